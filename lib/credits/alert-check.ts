import { deliverMail, type OutgoingMail } from '../auth/mail';
import type { Db } from '../db/client';
import { systemResolver, type Resolver } from '../http/public-address';
import { newId } from '../ids';
import { logger } from '../logger';
import { formatUsd, microsToUsd, type Micros } from '../money';
import { DEV_SECRET_FILE, vaultFromEnv, VaultError, type Vault } from '../sellers/vault';
import { postWebhook, type WebhookResult } from './alert-webhook';
import type { CreditAlertTestResult } from './alerts-schema';
import { creditTotals, posted } from './spendable';

type Env = Record<string, string | undefined>;

/**
 * Webhook secrets are sealed with the sellers' master key (SELLER_KEY_SECRET) under their own
 * purpose, so one operator secret covers both and a blob of one kind never opens as the other.
 */
export function alertVault(env: Env = process.env): Vault {
  return vaultFromEnv(env, DEV_SECRET_FILE, 'credit-alert');
}

export type AlertRow = { userId: string; threshold: Micros; email: boolean; webhookUrl: string | null; webhookSecret: string | null };
type Deps = { db: Db; env?: Env; vault?: () => Vault; resolver?: Resolver; webhookTimeoutMs?: number };

function alertMail({ to, balance, threshold, test, env }: { to: string; balance: Micros; threshold: Micros; test: boolean; env: Env }): OutgoingMail {
  const link = env.NEXTAUTH_URL?.trim() ? `${env.NEXTAUTH_URL.trim().replace(/\/+$/, '')}/credits` : null;
  const subject = test ? 'Tollgate: test low-balance alert' : `Tollgate: your balance is ${formatUsd(balance)}`;
  const lead = test
    ? `This is a test of your low-balance alert. Your balance is ${formatUsd(balance)}; the alert is set at ${formatUsd(threshold)}.`
    : `Your Tollgate balance is ${formatUsd(balance)}, at or below the ${formatUsd(threshold)} you set for this alert. Calls are refused once it runs out.`;
  const next = link ? `Add credit or change the alert: ${link}` : 'Add credit or change the alert on the Credits page.';
  const text = `${lead}\n\n${next}\n\nYou will not be alerted again until the balance is above ${formatUsd(threshold)} and falls back.\n`;
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
  const html = `<div style="font-family:system-ui,sans-serif;max-width:480px;margin:auto;padding:24px;color:#0f172a">
<p style="font-size:18px;font-weight:600">Tollgate</p>
<p>${escape(lead)}</p>
<p>${link ? `<a href="${escape(link)}">Add credit or change the alert</a>` : escape(next)}</p>
</div>`;
  return { to, subject, text, html };
}

/**
 * Sends one alert (or a test) on the row's channels. Never throws for a channel's failure: the
 * result says what happened, and `error` (no secrets) is what the owner sees on /credits.
 */
export async function deliverAlert({
  db,
  env = process.env,
  vault = () => alertVault(env),
  resolver = systemResolver,
  webhookTimeoutMs,
  alert,
  user,
  balance,
  test,
  now = new Date(),
}: Deps & { alert: AlertRow; user: { id: string; email: string | null }; balance: Micros; test: boolean; now?: Date }): Promise<Omit<CreditAlertTestResult, 'object'> & { error: string | null }> {
  const problems: string[] = [];
  let email: CreditAlertTestResult['email'] = 'off';
  if (alert.email) {
    if (!user.email) {
      email = 'failed';
      problems.push('Email: the account has no email address.');
    } else {
      try {
        await deliverMail({ db, env, mail: alertMail({ to: user.email, balance, threshold: alert.threshold, test, env }) });
        email = 'sent';
      } catch (error) {
        email = 'failed';
        problems.push('Email: the mail server refused or could not be reached.');
        logger.error('low-balance alert: email failed', { userId: user.id, error });
      }
    }
  }
  let webhook: CreditAlertTestResult['webhook'] = { status: 'off' };
  if (alert.webhookUrl && alert.webhookSecret) {
    const eventId = newId('evt');
    const body = JSON.stringify({
      id: eventId,
      type: 'balance.low',
      test,
      created_at: now.toISOString(),
      balance_usd: microsToUsd(balance),
      threshold_usd: microsToUsd(alert.threshold),
      user: { id: user.id, email: user.email },
    });
    let result: WebhookResult;
    try {
      const secret = vault().decryptSecret({ blob: alert.webhookSecret, poolId: alert.userId });
      result = await postWebhook({ url: alert.webhookUrl, body, secret, eventId, env, resolver, timeoutMs: webhookTimeoutMs, now: () => now.getTime() });
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      logger.error('low-balance alert: webhook secret cannot be opened', { userId: user.id, code: error.code });
      result = { delivered: false, status: null, error: 'The signing secret cannot be opened on this server; set the webhook again.' };
    }
    webhook = result.delivered ? { status: 'delivered', http_status: result.status } : { status: 'failed', http_status: result.status, error: result.error };
    if (!result.delivered) problems.push(`Webhook: ${result.error}`);
  }
  return { email, webhook, error: problems.length ? problems.join(' ') : null };
}

/**
 * The periodic check (the sweeper runs it; tests call it). For each alert it compares the user's
 * spendable credit (wallet available + live pack lots) with the threshold:
 * - at or below and armed: disarms with a conditional update and, only if that update won, sends.
 *   Several instances run this at once; the update succeeds on exactly one of them, so one alert
 *   goes out per crossing.
 * - above and disarmed: re-arms, so the next fall alerts again (a deposit, a pack, a refund).
 * Nothing here runs inside an API call: /v1 never waits for an alert.
 */
export async function checkCreditAlerts({ batchSize = 200, now = new Date(), ...deps }: Deps & { batchSize?: number; now?: Date }): Promise<{ sent: number; rearmed: number }> {
  const { db } = deps;
  let sent = 0;
  let rearmed = 0;
  let cursor: string | undefined;
  for (;;) {
    const alerts = await db.creditAlert.findMany({
      where: cursor ? { userId: { gt: cursor } } : {},
      select: { userId: true, threshold: true, email: true, webhookUrl: true, webhookSecret: true, armed: true, user: { select: { email: true } } },
      orderBy: { userId: 'asc' },
      take: batchSize,
    });
    if (alerts.length === 0) break;
    cursor = alerts.at(-1)!.userId;
    const totals = await creditTotals({ db, userIds: alerts.map((a) => a.userId), now });
    const due: Array<{ alert: (typeof alerts)[number]; balance: Micros }> = [];
    for (const alert of alerts) {
      // What is posted, not what is free: calls in flight hold part of the balance for a moment,
      // and an alert judged on that would fire, re-arm and fire again around a busy user's threshold.
      const balance = posted(totals.get(alert.userId)!);
      const low = balance <= alert.threshold;
      if (low && alert.armed) {
        const won = await db.creditAlert.updateMany({ where: { userId: alert.userId, armed: true }, data: { armed: false, lastAlertAt: now, lastAlertBalance: balance } });
        if (won.count === 1) due.push({ alert, balance });
      } else if (!low && !alert.armed) {
        rearmed += (await db.creditAlert.updateMany({ where: { userId: alert.userId, armed: false }, data: { armed: true } })).count;
      }
    }
    await Promise.all(
      due.map(async ({ alert, balance }) => {
        const result = await deliverAlert({ ...deps, alert, user: { id: alert.userId, email: alert.user.email }, balance, test: false, now });
        await db.creditAlert.updateMany({ where: { userId: alert.userId }, data: { lastDeliveryError: result.error } });
        if (result.error) logger.warn('low-balance alert: delivery failed', { userId: alert.userId, error: result.error });
        else logger.info('low-balance alert sent', { userId: alert.userId });
        sent += 1;
      }),
    );
    if (alerts.length < batchSize) break;
  }
  return { sent, rearmed };
}
