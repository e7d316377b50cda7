import { createTransport } from 'nodemailer';
import type { Db } from '../db/client';
import { isLoopbackClient } from '../http/client-address';
import { logger } from '../logger';
import { authId } from './users';
import type { Env } from './env';

export type OutgoingMail = { to: string; subject: string; text: string; html: string };

/** Without SMTP_URL, mail goes to the DevMail table, which the /dev/mailbox page shows. */
export function devMailboxEnabled(env: Env = process.env): boolean {
  return !env.SMTP_URL?.trim();
}

/**
 * Who may read the development mailbox. Its links sign anyone in as their addressee (admins
 * included), so by default only the machine's operator: a client on the loopback address by the
 * socket, not through a proxy, asking for a loopback host name (a page whose DNS name was rebound
 * to 127.0.0.1 still says its own name). Never once the operator has declared proxies in front.
 * DEV_MAILBOX=open lets anyone read it (a shared staging box, on purpose); DEV_MAILBOX=off no one.
 */
export function mayReadDevMailbox(request: Request, env: Env = process.env): boolean {
  if (!devMailboxEnabled(env)) return false;
  const mode = env.DEV_MAILBOX?.trim().toLowerCase() ?? 'local';
  if (mode === 'off') return false;
  if (mode === 'open') return true;
  if (env.TRUSTED_PROXIES?.trim()) return false;
  return isLoopbackClient(request) && LOOPBACK_HOST.test(request.headers.get('host') ?? '');
}

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

/**
 * Sends through SMTP_URL with nodemailer; otherwise stores the mail for the development mailbox
 * and logs its link, so that sign-in works on a machine with no mail server and no network.
 */
export async function deliverMail({ db, env = process.env, mail }: { db: Db; env?: Env; mail: OutgoingMail }): Promise<void> {
  const smtp = env.SMTP_URL?.trim();
  if (smtp) {
    // Without NEXTAUTH_URL a link's origin comes from the request's Host header, which the
    // requester chooses: a link mailed to someone else could point at the requester's server and
    // hand them its token. Real mail goes out only with the origin pinned.
    if (env.NODE_ENV === 'production' && !env.NEXTAUTH_URL?.trim()) {
      logger.error('refusing to send mail: set NEXTAUTH_URL to this instance\'s public URL so that links in mail cannot be pointed elsewhere');
      throw new Error('NEXTAUTH_URL is required to send mail in production');
    }
    const transport = createTransport(smtp);
    await transport.sendMail({ from: env.EMAIL_FROM?.trim() || 'Tollgate <no-reply@localhost>', ...mail });
    logger.info('mail sent', { to: mail.to, subject: mail.subject });
    return;
  }
  await db.devMail.create({ data: { id: authId('mail'), ...mail }, select: { id: true } });
  const flags = globalThis as unknown as { tollgateDevMailWarned?: boolean };
  if (env.NODE_ENV === 'production' && !flags.tollgateDevMailWarned) {
    flags.tollgateDevMailWarned = true;
    logger.warn('SMTP_URL is not set: sign-in links go to the development mailbox, readable at /dev/mailbox from this machine only (DEV_MAILBOX). Set SMTP_URL to mail them.');
  }
  // Never the link itself: logs travel further than the machine, and the link is a sign-in.
  logger.info('mail written to the development mailbox (SMTP_URL is not set)', { to: mail.to, subject: mail.subject, mailbox: '/dev/mailbox' });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A one-button mail: a sentence, a link, and what to do if it was not you. */
export function linkMail({ to, subject, intro, action, url, expires }: { to: string; subject: string; intro: string; action: string; url: string; expires: Date }): OutgoingMail {
  const minutes = Math.max(1, Math.round((expires.getTime() - Date.now()) / 60_000));
  const text = `${intro}\n\n${action}: ${url}\n\nThe link works once and expires in ${minutes} minutes. If you did not ask for it, ignore this mail.\n`;
  const html = `<div style="font-family:system-ui,sans-serif;max-width:480px;margin:auto;padding:24px;color:#0f172a">
<p style="font-size:18px;font-weight:600">Tollgate</p>
<p>${escapeHtml(intro)}</p>
<p><a href="${escapeHtml(url)}" style="display:inline-block;background:#1f57cc;color:#fff;padding:10px 18px;border-radius:8px;text-decoration:none;font-weight:600">${escapeHtml(action)}</a></p>
<p style="color:#64748b;font-size:13px">The link works once and expires in ${minutes} minutes. If you did not ask for it, ignore this mail.</p>
</div>`;
  return { to, subject, text, html };
}

/** The first link in a stored mail's text (what the development mailbox shows as a button). */
export function firstLink(text: string): string | null {
  return /https?:\/\/\S+/.exec(text)?.[0] ?? null;
}
