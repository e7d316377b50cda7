import { auditData } from '../audit';
import type { Db } from '../db/client';
import { createRateLimiter, type RateLimiter } from '../gateway/rate-limit';
import { invalidRequest, notFound, parseOrThrow, tooManyRequests, unavailable } from '../http/errors';
import { createGuards, type Principal } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { systemResolver, UnsafeTargetError, type Resolver } from '../http/public-address';
import { formatUsd, microsToUsd } from '../money';
import { VaultError, type Vault } from '../sellers/vault';
import { alertVault, deliverAlert } from './alert-check';
import { checkWebhookUrl, generateWebhookSecret, WEBHOOK_TIMEOUT_MS } from './alert-webhook';
import { creditAlertInputSchema, type CreditAlertTestResult, type CreditAlertView } from './alerts-schema';
import { creditTotals, posted } from './spendable';

type Env = Record<string, string | undefined>;

// A test sends real mail and real requests: a few at once, then one a minute.
const TEST_PER_USER = { burst: 3, perSecond: 1 / 60 };

const ALERT_SELECT = {
  threshold: true,
  email: true,
  webhookUrl: true,
  webhookSecret: true,
  webhookSecretHint: true,
  armed: true,
  lastAlertAt: true,
  lastDeliveryError: true,
} as const;

const actorOf = (principal: Principal) => (principal.via === 'session' ? `user:${principal.userId}` : `user:${principal.userId} (key ${principal.keyId})`);

/** Only the host: a webhook path may carry the receiver's own token, and audit rows travel further. */
const hostOf = (url: string | null) => (url ? new URL(url).host : null);

/**
 * GET/PUT/DELETE /api/credits/alerts and POST /api/credits/alerts/test: the caller's own
 * low-balance alert. Every query is keyed by the principal's user id, so no request can reach
 * another user's alert. Delivery itself happens in the periodic check (alert-check.ts).
 */
export function createCreditAlertsApi({
  db,
  env = process.env,
  vault = () => alertVault(env),
  resolver = systemResolver,
  rateLimiter = createRateLimiter(env),
  webhookTimeoutMs = WEBHOOK_TIMEOUT_MS,
}: {
  db: Db;
  env?: Env;
  vault?: () => Vault;
  resolver?: Resolver;
  rateLimiter?: RateLimiter;
  webhookTimeoutMs?: number;
}) {
  const guard = createGuards({ db, env }).principal;

  const view = async (userId: string, secret?: string): Promise<CreditAlertView> => {
    const [alert, user, totals] = await Promise.all([
      db.creditAlert.findUnique({ where: { userId }, select: ALERT_SELECT }),
      db.user.findUnique({ where: { id: userId }, select: { email: true } }),
      creditTotals({ db, userIds: [userId] }),
    ]);
    const balance = posted(totals.get(userId)!);
    return {
      object: 'credit_alert',
      configured: alert !== null,
      threshold_usd: alert ? microsToUsd(alert.threshold) : null,
      email: alert?.email ?? false,
      webhook_url: alert?.webhookUrl ?? null,
      webhook_secret_hint: alert?.webhookSecretHint ?? null,
      ...(secret ? { webhook_secret: secret } : {}),
      armed: alert?.armed ?? true,
      last_alert_at: alert?.lastAlertAt?.toISOString() ?? null,
      last_delivery_error: alert?.lastDeliveryError ?? null,
      email_address: user?.email ?? null,
      balance_usd: microsToUsd(balance),
      balance_display: formatUsd(balance),
    };
  };

  const openVault = () => {
    try {
      return vault();
    } catch (error) {
      if (error instanceof VaultError) throw unavailable('webhooks_unavailable', 'Webhook alerts are off on this server: its operator has not set SELLER_KEY_SECRET. Email alerts work.');
      throw error;
    }
  };

  // GET /api/credits/alerts
  const get = guard(async ({ principal }) => json(await view(principal.userId), { headers: { 'cache-control': 'no-store' } }));

  // PUT /api/credits/alerts — creates or replaces; a webhook's secret is made here and shown once.
  const put = guard(async ({ request, principal }) => {
    const input = parseOrThrow(creditAlertInputSchema, await readJsonBody(request));
    const userId = principal.userId;
    const [user, existing] = await Promise.all([
      db.user.findUniqueOrThrow({ where: { id: userId }, select: { email: true } }),
      db.creditAlert.findUnique({ where: { userId }, select: { webhookSecret: true, webhookSecretHint: true } }),
    ]);
    if (input.email && !user.email) {
      throw invalidRequest('Your account has no email address. Add one on the Account page, or use a webhook.', 'email', 'no_email_address');
    }
    if (input.rotate_secret && !input.webhook_url) throw invalidRequest('A signing secret belongs to a webhook: set a webhook URL to make one.', 'rotate_secret');
    if (input.webhook_url) {
      try {
        await checkWebhookUrl({ url: input.webhook_url, env, resolver });
      } catch (error) {
        if (error instanceof UnsafeTargetError) throw invalidRequest(error.message, 'webhook_url', 'invalid_webhook_url');
        throw error;
      }
    }
    let secret: string | undefined;
    let sealed: { webhookSecret: string | null; webhookSecretHint: string | null } = { webhookSecret: null, webhookSecretHint: null };
    if (input.webhook_url) {
      if (existing?.webhookSecret && !input.rotate_secret) {
        sealed = { webhookSecret: existing.webhookSecret, webhookSecretHint: existing.webhookSecretHint };
      } else {
        secret = generateWebhookSecret();
        sealed = { webhookSecret: openVault().encryptSecret({ plaintext: secret, poolId: userId }), webhookSecretHint: secret.slice(-4) };
      }
    }
    // Armed again: the next check compares the new threshold afresh (and alerts if already below).
    const data = { threshold: input.threshold_usd, email: input.email, webhookUrl: input.webhook_url, ...sealed, armed: true, lastDeliveryError: null };
    await db.$transaction([
      db.creditAlert.upsert({ where: { userId }, create: { userId, ...data }, update: data, select: { userId: true } }),
      db.auditLog.create({
        data: auditData({
          actor: actorOf(principal),
          action: existing ? 'credit_alert.update' : 'credit_alert.create',
          targetType: 'user',
          targetId: userId,
          details: { threshold_micros: input.threshold_usd, email: input.email, webhook_host: hostOf(input.webhook_url), secret_issued: secret !== undefined },
        }),
        select: { id: true },
      }),
    ]);
    return json(await view(userId, secret));
  });

  // DELETE /api/credits/alerts — idempotent: no alert afterwards either way.
  const remove = guard(async ({ principal }) => {
    const userId = principal.userId;
    const { count } = await db.creditAlert.deleteMany({ where: { userId } });
    if (count > 0) {
      await db.auditLog.create({ data: auditData({ actor: actorOf(principal), action: 'credit_alert.delete', targetType: 'user', targetId: userId, details: {} }), select: { id: true } });
    }
    return json(await view(userId));
  });

  // POST /api/credits/alerts/test — sends a test alert now on the saved channels; the alert's state is untouched.
  const test = guard(async ({ principal }) => {
    const userId = principal.userId;
    const alert = await db.creditAlert.findUnique({ where: { userId }, select: { userId: true, threshold: true, email: true, webhookUrl: true, webhookSecret: true, user: { select: { email: true } } } });
    if (!alert) throw notFound('alert_not_found', 'Save an alert first, then send a test.');
    const decision = await rateLimiter.take(`credit-alert-test:${userId}`, TEST_PER_USER);
    if (!decision.allowed) throw tooManyRequests('alert_test_rate_limited', `Too many tests; try again in ${decision.retryAfterSeconds} s.`, decision.retryAfterSeconds);
    const totals = await creditTotals({ db, userIds: [userId] });
    const result = await deliverAlert({ db, env, vault, resolver, webhookTimeoutMs, alert, user: { id: userId, email: alert.user.email }, balance: posted(totals.get(userId)!), test: true });
    const body: CreditAlertTestResult = { object: 'credit_alert_test', email: result.email, webhook: result.webhook };
    return json(body);
  });

  return { get, put, remove, test };
}

export type CreditAlertsApi = ReturnType<typeof createCreditAlertsApi>;
