import { loadCatalog } from './catalog/catalog';
import type { Db } from './db/client';
import { loadPaymentsConfig, publicClientFor, type NetworkConfig, type PaymentsConfig } from './payments/networks';
import { getWalletBudgetRate, WALLET_BUDGET_RATE_SETTING } from './payments/wallet-budget';
import { loadSessionConfig } from './payments/session/config';
import { x402Status } from './payments/x402';

/**
 * What /status shows: every payment rail and provider with its state, derived from the
 * configuration (and, for RPC endpoints, one quick probe):
 * - live: works now;
 * - operator_action: the operator has something to set before it works;
 * - third_party: configured, but waiting on someone else (an RPC endpoint that does not answer);
 * - disabled: off on purpose, and off safely (nothing is accepted or charged).
 */
export type StatusState = 'live' | 'operator_action' | 'third_party' | 'disabled';

export type StatusItem = { id: string; group: string; name: string; state: StatusState; detail: string };

export type StatusContext = { db: Db; env: Record<string, string | undefined>; probeTimeoutMs: number };

/** A contributor of status lines. Other modules add theirs with registerStatusSource (same id replaces). */
export type StatusSource = { id: string; collect(ctx: StatusContext): Promise<StatusItem[]> | StatusItem[] };

export const STATE_LABELS: Record<StatusState, string> = {
  live: 'Live',
  operator_action: 'Needs operator action',
  third_party: 'Blocked on a third party',
  disabled: 'Disabled safely',
};

async function rpcAnswers(network: NetworkConfig, timeoutMs: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  const client = publicClientFor(network);
  if (!client) return { ok: false, reason: 'no RPC' };
  try {
    const chainId = await Promise.race([
      client.getChainId(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return chainId === network.chainId ? { ok: true } : { ok: false, reason: `the RPC serves chain ${chainId}, not ${network.chainId}` };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message.split('\n')[0]!.slice(0, 160) : 'unreachable' };
  }
}

function configOrError(env: Record<string, string | undefined>): { config: PaymentsConfig } | { error: string } {
  try {
    return { config: loadPaymentsConfig(env) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

const depositSource: StatusSource = {
  id: 'deposits',
  async collect({ env, probeTimeoutMs }) {
    const loaded = configOrError(env);
    if ('error' in loaded) return [{ id: 'deposits', group: 'Payments', name: 'Stablecoin deposits', state: 'operator_action', detail: loaded.error }];
    const { config } = loaded;
    const fee = `${Number(config.feeBps) / 100}% fee`;
    return Promise.all(
      config.networks.map(async (network): Promise<StatusItem> => {
        const id = `deposits:${network.id}`;
        const name = `Deposits on ${network.name} (${Object.keys(network.tokens).join(', ') || 'no tokens'})`;
        if (!network.acceptsDeposits) {
          const missing = network.id === 'dev' ? 'TREASURY_ADDRESS and DEV_CHAIN_USDC / DEV_CHAIN_USDT' : `TREASURY_ADDRESS or TREASURY_ADDRESS_${network.rpcEnv.replace('RPC_URL_', '')}`;
          return { id, group: 'Payments', name, state: 'disabled', detail: `No deposits accepted: set ${missing} to open this network.` };
        }
        if (!network.autoVerify) {
          return {
            id,
            group: 'Payments',
            name,
            state: 'operator_action',
            detail: `Intents open to ${network.treasury} (${fee}); automatic verification is off until ${network.rpcEnv} is set, so every paid deposit waits for an admin's review.`,
          };
        }
        const probe = await rpcAnswers(network, probeTimeoutMs);
        if (!probe.ok) {
          return { id, group: 'Payments', name, state: 'third_party', detail: `The RPC in ${network.rpcEnv} does not answer (${probe.reason}); deposits wait in verification and are retried; after DEPOSIT_TX_TIMEOUT_MINUTES (30 by default) of failures in a row they go to review.` };
        }
        return {
          id,
          group: 'Payments',
          name,
          state: 'live',
          detail: `Verified automatically after ${network.confirmations} confirmation${network.confirmations === 1 ? '' : 's'}; paid to ${network.treasury} (${fee}).`,
        };
      }),
    );
  },
};

const walletBudgetSource: StatusSource = {
  id: 'wallet-budget',
  async collect({ db, env }) {
    const loaded = configOrError(env);
    const name = 'Wallet-backed key budgets';
    if ('error' in loaded) return [];
    const budget = loaded.config.walletBudget;
    if (!budget) return [{ id: 'wallet-budget', group: 'Payments', name, state: 'disabled', detail: 'Off: set WALLET_BUDGET_NETWORK and WALLET_BUDGET_TOKEN to enable.' }];
    const network = loaded.config.networks.find((n) => n.id === budget.network);
    if (!network?.tokens[budget.asset]) {
      return [{ id: 'wallet-budget', group: 'Payments', name, state: 'operator_action', detail: `${budget.asset} has no contract on ${budget.network}; choose another WALLET_BUDGET_TOKEN or network.` }];
    }
    if (!network.rpcUrl) return [{ id: 'wallet-budget', group: 'Payments', name, state: 'operator_action', detail: `Set ${network.rpcEnv} so balances can be read.` }];
    const rate = await getWalletBudgetRate(db);
    if (rate === null) {
      return [{ id: 'wallet-budget', group: 'Payments', name, state: 'operator_action', detail: `An admin must set ${WALLET_BUDGET_RATE_SETTING}; until then wallet-backed keys have a zero budget.` }];
    }
    return [
      {
        id: 'wallet-budget',
        group: 'Payments',
        name,
        state: 'live',
        detail: `${budget.asset} on ${network.name} × $${(Number(rate) / 1e6).toString()} × ${Number(budget.dailyFractionBps) / 100}% a day, refreshed every ${Math.round(budget.snapshotMs / 60_000)} min.`,
      },
    ];
  },
};

/** x402's own lines (lib/payments/x402), mapped onto the four states. */
const x402Source: StatusSource = {
  id: 'x402',
  collect({ env }) {
    return x402Status(env).map((line, index): StatusItem => {
      const off = /^(off|disabled)\b/i.test(line.value);
      const state: StatusState = line.ok && !off ? 'live' : off ? 'disabled' : /misconfigured/i.test(line.value) ? 'operator_action' : 'disabled';
      return { id: `x402:${index}`, group: 'Payments', name: line.label, state, detail: line.value };
    });
  },
};

/** Pay-per-token sessions (lib/payments/session): on, off or misconfigured, from the environment only. */
const sessionSource: StatusSource = {
  id: 'sessions',
  async collect({ db, env }) {
    const name = 'Pay-per-token sessions (MPP payment channels)';
    const loaded = loadSessionConfig(env);
    if (loaded.state === 'disabled') return [{ id: 'sessions', group: 'Payments', name, state: 'disabled', detail: 'Off: set SESSION_ESCROW (and the other SESSION_* settings) to enable.' }];
    if (loaded.state === 'misconfigured') return [{ id: 'sessions', group: 'Payments', name, state: 'operator_action', detail: `Misconfigured, session credentials are refused: ${loaded.reason}` }];
    const { config } = loaded;
    const open = await db.sessionChannel.count({ where: { status: 'OPEN' } });
    return [
      {
        id: 'sessions',
        group: 'Payments',
        name,
        state: 'live',
        // The RPC by host only: its URL may carry a key.
        detail: `Channels on chain ${config.chainId} via ${new URL(config.rpcUrl).host}: escrow ${config.escrow}, token ${config.token}, payee ${config.payee}; minimum deposit $${(Number(config.minDeposit) / 1e6).toFixed(2)}; ${open} open.`,
      },
    ];
  },
};

const providerSource: StatusSource = {
  id: 'providers',
  async collect({ db, env }) {
    const catalog = await loadCatalog(db, env as NodeJS.ProcessEnv);
    return catalog.providers.map((provider): StatusItem => {
      const base = { id: `provider:${provider.id}`, group: 'Model providers', name: provider.name };
      if (provider.status === 'live') return { ...base, state: 'live', detail: 'Serving requests.' };
      if (provider.status === 'disabled') return { ...base, state: 'disabled', detail: `Disabled by an administrator: ${provider.reason ?? 'no reason given'}.` };
      return { ...base, state: 'operator_action', detail: provider.reason ?? 'Not configured.' };
    });
  },
};

const globalForStatus = globalThis as unknown as { tollgateStatusSources?: Map<string, StatusSource> };
const sources = (globalForStatus.tollgateStatusSources ??= new Map([depositSource, walletBudgetSource, x402Source, sessionSource, providerSource].map((s) => [s.id, s])));

/** Adds (or, with an existing id, replaces) a status source. */
export function registerStatusSource(source: StatusSource): void {
  sources.set(source.id, source);
}

/** Every line from every source; a source that fails shows as one line saying so. */
export async function collectStatus({ db, env = process.env, probeTimeoutMs = 2_500 }: { db: Db; env?: Record<string, string | undefined>; probeTimeoutMs?: number }): Promise<StatusItem[]> {
  const ctx: StatusContext = { db, env, probeTimeoutMs };
  const results = await Promise.all(
    [...sources.values()].map(async (source) => {
      try {
        return await source.collect(ctx);
      } catch (error) {
        return [{ id: source.id, group: 'Other', name: source.id, state: 'operator_action' as const, detail: `Status unavailable: ${error instanceof Error ? error.message : String(error)}` }];
      }
    }),
  );
  return results.flat();
}
