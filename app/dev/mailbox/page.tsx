import type { Metadata } from 'next';
import { headers } from 'next/headers';
import { notFound } from 'next/navigation';
import { Card, EmptyState } from '@/components/ui';
import { firstLink, mayReadDevMailbox } from '@/lib/auth/mail';
import { getDb } from '@/lib/db/client';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Development mailbox', robots: { index: false } };

const time = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' });

/**
 * Mail the server would have sent, while SMTP_URL is unset: sign-in works on a machine with no
 * mail server. Readable only from this machine (lib/auth/mail.ts mayReadDevMailbox): elsewhere it
 * does not exist.
 */
export default async function MailboxPage() {
  if (!mayReadDevMailbox(new Request('http://mailbox.local/', { headers: await headers() }))) notFound();
  const mails = await getDb().devMail.findMany({ orderBy: { createdAt: 'desc' }, take: 25 });
  return (
    <div className="space-y-6">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Development mailbox</h1>
        <p className="max-w-2xl text-slate-600">The last 25 messages this server would have emailed. Newest first.</p>
        <p role="note" className="max-w-2xl rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200">
          For development only: these links sign their addressee in. This page answers only on this machine; set <code className="font-mono">SMTP_URL</code> to send real mail and it disappears.
        </p>
      </header>
      {mails.length === 0 ? (
        <EmptyState title="No mail yet" message="Ask for a sign-in link on the sign-in page and it appears here." />
      ) : (
        <ul className="space-y-3" data-testid="mailbox">
          {mails.map((mail) => {
            const link = firstLink(mail.text);
            return (
              <li key={mail.id}>
                <Card className="space-y-2 px-5 py-4" data-testid="mail" data-to={mail.to}>
                  <div className="flex flex-wrap items-baseline justify-between gap-2">
                    <p className="font-medium text-slate-900">{mail.subject}</p>
                    <time dateTime={mail.createdAt.toISOString()} className="text-xs text-slate-500">
                      {time.format(mail.createdAt)} UTC
                    </time>
                  </div>
                  <p className="text-sm text-slate-600">
                    To <span className="font-mono">{mail.to}</span>
                  </p>
                  {link ? (
                    <a href={link} className="inline-block rounded-lg bg-brand-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-brand-700" data-testid="mail-link">
                      Open the link
                    </a>
                  ) : null}
                </Card>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
