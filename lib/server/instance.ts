import { createAccountApi } from '../account/account-api';
import { createAdminApi, type AdminApi } from '../admin/admin-api';
import { getCatalogCache } from '../catalog/models';
import { getDb } from '../db/client';
import { createGateway, type Gateway } from '../gateway/gateway';
import { logger } from '../logger';

const globalForServer = globalThis as unknown as {
  tollgateGateway?: Gateway;
  tollgateAdmin?: AdminApi;
  tollgateAccount?: ReturnType<typeof createAccountApi>;
  tollgateSweeper?: NodeJS.Timeout;
};

/** The process-wide gateway for the Next app; the hold sweeper starts with it. */
export function getGateway(): Gateway {
  if (!globalForServer.tollgateGateway) {
    globalForServer.tollgateGateway = createGateway({ db: getDb(), catalog: getCatalogCache() });
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

/** Releases holds left behind by requests that never settled (a crash, a killed process). */
export function startHoldSweeper(gateway: Gateway, intervalMs = Number(process.env.HOLD_SWEEP_INTERVAL_MS ?? 30_000)): NodeJS.Timeout {
  if (globalForServer.tollgateSweeper) return globalForServer.tollgateSweeper;
  const timer = setInterval(() => {
    gateway.ctx.ledger
      .releaseExpiredHolds()
      .then((released) => released && logger.info('released expired holds', { released }))
      .catch((error: unknown) => logger.error('hold sweeper failed', { error }));
  }, intervalMs);
  timer.unref();
  globalForServer.tollgateSweeper = timer;
  return timer;
}
