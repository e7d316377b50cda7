import type { Metadata } from 'next';
import Link from 'next/link';
import { Card, CardBody } from '@/components/ui';
import { devMailboxEnabled } from '@/lib/auth/mail';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Check your email' };

export default async function CheckEmailPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { email } = await searchParams;
  const address = typeof email === 'string' ? email : null;
  return (
    <div className="mx-auto max-w-md">
      <Card>
        <CardBody className="space-y-3 py-8 text-center">
          <div aria-hidden className="mx-auto grid h-12 w-12 place-items-center rounded-full bg-brand-50 text-2xl">
            ✉
          </div>
          <h1 className="text-2xl font-semibold tracking-tight" data-testid="check-email">
            Check your email
          </h1>
          <p className="text-slate-600">
            We sent a sign-in link{address ? <> to <span className="font-medium text-slate-900">{address}</span></> : null}. It works once and expires in an hour.
          </p>
          {devMailboxEnabled() ? (
            <p className="text-sm text-slate-500">
              This server has no mail server configured:{' '}
              <Link href="/dev/mailbox" className="font-medium text-brand-700 underline" data-testid="open-mailbox">
                open the development mailbox
              </Link>
              .
            </p>
          ) : null}
          <p className="text-sm">
            <Link href="/signin" className="text-slate-500 underline">
              Use another address
            </Link>
          </p>
        </CardBody>
      </Card>
    </div>
  );
}
