import { getDb } from '../db/client';
import { logger } from '../logger';
import { createDepositAdminApi, type DepositAdminApi } from './deposit-admin';
import { startDepositWorker } from './deposit-worker';
import { createDepositApi } from './deposits';
import { loadPaymentsConfig, type PaymentsConfig } from './networks';
import { createSettingsAdminApi, startWalletBudgetSnapshots, type SettingsAdminApi } from './wallet-budget';

// Process-wide payment singletons for the Next app, on globalThis because Next bundles modules
// into several chunks (see lib/server/instance.ts).
const globalForPayments = globalThis as unknown as {
  tollgatePaymentsConfig?: PaymentsConfig;
  tollgateDepositApi?: ReturnType<typeof createDepositApi>;
  tollgateDepositAdmin?: DepositAdminApi;
  tollgateSettingsAdmin?: SettingsAdminApi;
};

/** The payment configuration, validated once; an invalid one throws (PaymentsConfigError) on every use. */
export function getPaymentsConfig(): PaymentsConfig {
  globalForPayments.tollgatePaymentsConfig ??= loadPaymentsConfig(process.env);
  return globalForPayments.tollgatePaymentsConfig;
}

export function getDepositApi() {
  globalForPayments.tollgateDepositApi ??= createDepositApi({ db: getDb(), getConfig: getPaymentsConfig });
  return globalForPayments.tollgateDepositApi;
}

export function getDepositAdminApi(): DepositAdminApi {
  globalForPayments.tollgateDepositAdmin ??= createDepositAdminApi({ db: getDb(), getConfig: getPaymentsConfig });
  return globalForPayments.tollgateDepositAdmin;
}

export function getSettingsAdminApi(): SettingsAdminApi {
  globalForPayments.tollgateSettingsAdmin ??= createSettingsAdminApi({ db: getDb() });
  return globalForPayments.tollgateSettingsAdmin;
}

/** Starts the deposit worker and the wallet-budget snapshots (once per process). */
export function startPaymentsBackground() {
  const db = getDb();
  startDepositWorker({ db, getConfig: getPaymentsConfig });
  try {
    startWalletBudgetSnapshots({ db, config: getPaymentsConfig() });
  } catch (error) {
    logger.error('wallet budget snapshots not started', { error });
  }
}
