import { createAccountApi } from '../account/account-api';
import { createAdminApi, type AdminApi } from '../admin/admin-api';
import { getCatalogCache } from '../catalog/models';
import { checkCreditAlerts } from '../credits/alert-check';
import { createCreditAlertsApi, type CreditAlertsApi } from '../credits/alerts';
import { createCreditsHistoryApi } from '../credits/history';
import { pruneWelcomeGrantQuota } from '../credits/welcome';
import { getDb } from '../db/client';
import { createGateway, type Gateway } from '../gateway/gateway';
import { logger } from '../logger';
import { expirePackLots } from '../packs/packs';
import { createPackAdminApi, type PackAdminApi } from '../packs/pack-admin';
import { createPacksApi, type PacksApi } from '../packs/packs-api';
import { getPayPerRequest } from '../payments/keyless';
import { createPayoutAdminApi } from '../payments/payouts/admin';
import { loadPayoutConfig } from '../payments/payouts/config';
import { createPayoutRunner, type PayoutRunner } from '../payments/payouts/payouts';
import { createPlaygroundApi } from '../playground';
import { createEarningsApi, type EarningsApi } from '../sellers/earnings-api';
import { createSellersApi, type SellersApi } from '../sellers/sellers-api';
import { createWaitlistApi } from '../waitlist';

const globalForServer = globalThis as unknown as {
  tollgateGateway?: Gateway;
  tollgateAdmin?: AdminApi;
  tollgateAccount?: ReturnType<typeof createAccountApi>;
  tollgateCreditsHistory?: ReturnType<typeof createCreditsHistoryApi>;
  tollgateCreditAlerts?: CreditAlertsApi;
  tollgateAlertCheckRunning?: boolean;
  tollgatePacks?: PacksApi;
  tollgatePackAdmin?: PackAdminApi;
  tollgatePlayground?: ReturnType<typeof createPlaygroundApi>;
  tollgateWaitlist?: ReturnType<typeof createWaitlistApi>;
  tollgateSellers?: SellersApi;
  tollgateEarnings?: EarningsApi;
  tollgatePayoutAdmin?: ReturnType<typeof createPayoutAdminApi>;
  tollgatePayoutRunner?: PayoutRunner | null;
  tollgateSweeper?: NodeJS.Timeout;
};

/** The process-wide gateway for the Next app; the hold sweeper starts with it. */
export function getGateway(): Gateway {
  if (!globalForServer.tollgateGateway) {
    globalForServer.tollgateGateway = createGateway({ db: getDb(), catalog: getCatalogCache(), payPerRequest: getPayPerRequest() });
    startHoldSweeper(globalForServer.tollgateGateway);
  }
  return globalForServer.tollgateGateway;
}

export function getAdminApi(): AdminApi {
  globalForServer.tollgateAdmin ??= createAdminApi({ db: getDb(), catalog: getCatalogCache() });
  return globalForServer.tollgateAdmin;
}

export function getAccountApi() {
  globalForServer.tollgateAccount ??= createAccountApi({ db: getDb(), catalog: getCatalogCache() });
  return globalForServer.tollgateAccount;
}

export function getCreditsHistoryApi() {
  globalForServer.tollgateCreditsHistory ??= createCreditsHistoryApi({ db: getDb() });
  return globalForServer.tollgateCreditsHistory;
}

export function getCreditAlertsApi(): CreditAlertsApi {
  globalForServer.tollgateCreditAlerts ??= createCreditAlertsApi({ db: getDb() });
  return globalForServer.tollgateCreditAlerts;
}

export function getPackAdminApi(): PackAdminApi {
  globalForServer.tollgatePackAdmin ??= createPackAdminApi({ db: getDb(), catalog: getCatalogCache() });
  return globalForServer.tollgatePackAdmin;
}

export function getPacksApi(): PacksApi {
  globalForServer.tollgatePacks ??= createPacksApi({ db: getDb() });
  return globalForServer.tollgatePacks;
}

export function getPlaygroundApi() {
  globalForServer.tollgatePlayground ??= createPlaygroundApi({ db: getDb(), gateway: getGateway });
  return globalForServer.tollgatePlayground;
}

export function getSellersApi(): SellersApi {
  globalForServer.tollgateSellers ??= createSellersApi({
    db: getDb(),
    // A new pool serves from this instance's next call; other instances see it within their directory's TTL.
    onListed: () => {
      getGateway().ctx.pools.invalidate();
      getGateway().ctx.catalog.invalidate();
    },
  });
  return globalForServer.tollgateSellers;
}

export function getEarningsApi(): EarningsApi {
  globalForServer.tollgateEarnings ??= createEarningsApi({ db: getDb() });
  return globalForServer.tollgateEarnings;
}

/** The payout runner when payouts are configured (SELLER_PAYOUT_*), else null. */
export function getPayoutRunner(): PayoutRunner | null {
  if (globalForServer.tollgatePayoutRunner === undefined) {
    const config = loadPayoutConfig(process.env);
    if (config.state === 'misconfigured') logger.error('seller payouts misconfigured: no payout runs', { reason: config.reason });
    globalForServer.tollgatePayoutRunner = config.state === 'enabled' ? createPayoutRunner({ db: getDb(), policy: config.policy, chain: config.chain }) : null;
  }
  return globalForServer.tollgatePayoutRunner;
}

export function getPayoutAdminApi() {
  globalForServer.tollgatePayoutAdmin ??= createPayoutAdminApi({ db: getDb(), runner: getPayoutRunner() ?? undefined });
  return globalForServer.tollgatePayoutAdmin;
}

/** One API (and so one per-address limiter) per process. */
export function getWaitlistApi() {
  globalForServer.tollgateWaitlist ??= createWaitlistApi({ db: getDb() });
  return globalForServer.tollgateWaitlist;
}

/**
 * Releases holds left behind by requests that never settled (a crash, a killed process), then
 * expires pack lots past their validity (after the holds, so a crashed call's hold on a lot is gone),
 * forgets welcome-grant counters of past days, and credits pay-per-request payments that were
 * settled on chain but not credited (x402 reconcile()); sends low-balance alerts; and, when payouts are
 * configured, runs the weekly seller payout once per ISO week (UTC) and carries unfinished payouts to the end.
 */
export function startHoldSweeper(gateway: Gateway, intervalMs = Number(process.env.HOLD_SWEEP_INTERVAL_MS ?? 30_000)): NodeJS.Timeout {
  if (globalForServer.tollgateSweeper) return globalForServer.tollgateSweeper;
  const timer = setInterval(() => {
    gateway.ctx.ledger
      .releaseExpiredHolds()
      .then((released) => released && logger.info('released expired holds', { released }))
      .then(() => expirePackLots({ db: gateway.ctx.db, ledger: gateway.ctx.ledger }))
      .then((expired) => expired && logger.info('expired pack lots', { expired }))
      .then(() => pruneWelcomeGrantQuota({ db: gateway.ctx.db }))
      .catch((error: unknown) => logger.error('hold sweeper failed', { error }));
    // On its own: a failure above must not keep payers' money from being credited.
    gateway.ctx.payPerRequest
      ?.reconcile?.()
      .catch((error: unknown) => logger.error('keyless payment reconciliation (x402, sessions) failed', { error }));
    // On its own too; a run holds a lease, so a tick that finds another instance running does nothing.
    const payouts = getPayoutRunner();
    if (payouts) {
      payouts
        .due()
        .then((due) => (due.newPeriod || due.open ? payouts.run({ newPayouts: due.newPeriod }) : null))
        .then((result) => result?.ran && (result.created || result.confirmed || result.failed) && logger.info('seller payout run', { ...result, skipped: result.skipped.length }))
        .catch((error: unknown) => logger.error('seller payout run failed', { error }));
    }
    // On its own too, and never twice at once in a process: a slow webhook (up to 5 s each) must
    // neither hold up the ledger's steps nor pile up checks. Other instances may run theirs; the
    // check's conditional disarm sends each alert once.
    if (!globalForServer.tollgateAlertCheckRunning) {
      globalForServer.tollgateAlertCheckRunning = true;
      checkCreditAlerts({ db: gateway.ctx.db })
        .then(({ sent }) => sent && logger.info('low-balance alerts sent', { sent }))
        .catch((error: unknown) => logger.error('low-balance alert check failed', { error }))
        .finally(() => {
          globalForServer.tollgateAlertCheckRunning = false;
        });
    }
  }, intervalMs);
  timer.unref();
  globalForServer.tollgateSweeper = timer;
  return timer;
}
