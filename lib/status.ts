import { loadCatalog, type Catalog } from './catalog/catalog';
import type { Db } from './db/client';
import { loadPaymentsConfig, publicClientFor, type NetworkConfig, type PaymentsConfig } from './payments/networks';
import { getWalletBudgetRate, WALLET_BUDGET_RATE_SETTING } from './payments/wallet-budget';
import { loadPayoutConfig } from './payments/payouts/config';
import { loadSessionConfig } from './payments/session/config';
import { x402Status } from './payments/x402';
import { probeUrl, providerProbes, type ProviderProbe } from './providers/health';
import { providerConnection, providerUrlVar } from './providers/registry';

/**
 * What /status shows: every payment rail and provider with its state, derived from the
 * configuration (and, for RPC endpoints, one quick probe):
 * - live: works now;
 * - operator_action: the operator has something to set before it works;
 * - third_party: configured, but waiting on someone else (an RPC endpoint that does not answer);
 * - disabled: off on purpose, and off safely (nothing is accepted or charged).
 */
export type StatusState = 'live' | 'operator_action' | 'third_party' | 'disabled';

/**
 * `summary` is for buyers: what they can and cannot do, with no setting names. `detail` is for the
 * operator (setting names, addresses, RPC hosts) and is shown to admins only. `checkedAt` is when a
 * live probe last looked (providers), null when the line comes from the configuration alone.
 */
export type StatusItem = { id: string; group: string; name: string; state: StatusState; summary: string; detail: string; checkedAt: string | null };

export type StatusContext = {
  db: Db;
  env: Record<string, string | undefined>;
  probeTimeoutMs: number;
  probe: (provider: ProviderProbe['provider']) => Promise<ProviderProbe>;
};

/** A contributor of status lines. Other modules add theirs with registerStatusSource (same id replaces). */
export type StatusSource = { id: string; collect(ctx: StatusContext): Promise<StatusItem[]> | StatusItem[] };

export const STATE_LABELS: Record<StatusState, string> = {
  live: 'Live',
  operator_action: 'Needs operator action',
  third_party: 'Blocked on a third party',
  disabled: 'Disabled safely',
};

/** What a buyer reads when a source has nothing more specific to say. */
const BUYER_SUMMARY: Record<StatusState, string> = {
  live: 'Available.',
  operator_action: 'Not available yet: the operator of this instance has a setting to finish.',
  third_party: 'Set up, but a service it depends on is not answering; it resumes by itself when that service is back.',
  disabled: 'Not offered on this instance.',
};

const item = (fields: Omit<StatusItem, 'summary' | 'checkedAt'> & { summary?: string; checkedAt?: string | null }): StatusItem => ({
  summary: BUYER_SUMMARY[fields.state],
  checkedAt: null,
  ...fields,
});

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
    if ('error' in loaded) {
      return [item({ id: 'deposits', group: 'Payments', name: 'Stablecoin deposits', state: 'operator_action', summary: 'Deposits are closed until the operator fixes the payment settings.', detail: loaded.error })];
    }
    const { config } = loaded;
    const fee = `${Number(config.feeBps) / 100}% fee`;
    return Promise.all(
      config.networks.map(async (network): Promise<StatusItem> => {
        const id = `deposits:${network.id}`;
        const name = `Deposits on ${network.name} (${Object.keys(network.tokens).join(', ') || 'no tokens'})`;
        if (!network.acceptsDeposits) {
          const missing = network.id === 'dev' ? 'TREASURY_ADDRESS and DEV_CHAIN_USDC / DEV_CHAIN_USDT' : `TREASURY_ADDRESS or TREASURY_ADDRESS_${network.rpcEnv.replace('RPC_URL_', '')}`;
          return item({ id, group: 'Payments', name, state: 'disabled', summary: `Not open: this instance has no receiving address on ${network.name} yet.`, detail: `No deposits accepted: set ${missing} to open this network.` });
        }
        if (!network.autoVerify) {
          return item({
            id,
            group: 'Payments',
            name,
            state: 'operator_action',
            summary: `Open (${fee}), but checked by hand: a paid deposit is credited once an administrator has reviewed it, which can take a while.`,
            detail: `Intents open to ${network.treasury} (${fee}); automatic verification is off until ${network.rpcEnv} is set, so every paid deposit waits for an admin's review.`,
          });
        }
        const probe = await rpcAnswers(network, probeTimeoutMs);
        if (!probe.ok) {
          return item({
            id,
            group: 'Payments',
            name,
            state: 'third_party',
            summary: `Open (${fee}), but the connection to ${network.name} is not answering: paid deposits wait and are credited when it is back, or reviewed by an administrator.`,
            detail: `The RPC in ${network.rpcEnv} does not answer (${probe.reason}); deposits wait in verification and are retried; after DEPOSIT_TX_TIMEOUT_MINUTES (30 by default) of failures in a row they go to review.`,
          });
        }
        const confirmations = `${network.confirmations} confirmation${network.confirmations === 1 ? '' : 's'}`;
        return item({
          id,
          group: 'Payments',
          name,
          state: 'live',
          summary: `Credited automatically after ${confirmations} (${fee}).`,
          detail: `Verified automatically after ${confirmations}; paid to ${network.treasury} (${fee}).`,
        });
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
    if (!budget) return [item({ id: 'wallet-budget', group: 'Payments', name, state: 'disabled', detail: 'Off: set WALLET_BUDGET_NETWORK and WALLET_BUDGET_TOKEN to enable.' })];
    const network = loaded.config.networks.find((n) => n.id === budget.network);
    if (!network?.tokens[budget.asset]) {
      return [item({ id: 'wallet-budget', group: 'Payments', name, state: 'operator_action', detail: `${budget.asset} has no contract on ${budget.network}; choose another WALLET_BUDGET_TOKEN or network.` })];
    }
    if (!network.rpcUrl) return [item({ id: 'wallet-budget', group: 'Payments', name, state: 'operator_action', detail: `Set ${network.rpcEnv} so balances can be read.` })];
    const rate = await getWalletBudgetRate(db);
    if (rate === null) {
      return [
        item({
          id: 'wallet-budget',
          group: 'Payments',
          name,
          state: 'operator_action',
          summary: 'Not available yet: wallet-backed keys have no budget until an administrator sets the exchange rate.',
          detail: `An admin must set ${WALLET_BUDGET_RATE_SETTING}; until then wallet-backed keys have a zero budget.`,
        }),
      ];
    }
    const detail = `${budget.asset} on ${network.name} × $${(Number(rate) / 1e6).toString()} × ${Number(budget.dailyFractionBps) / 100}% a day, refreshed every ${Math.round(budget.snapshotMs / 60_000)} min.`;
    return [
      item({
        id: 'wallet-budget',
        group: 'Payments',
        name,
        state: 'live',
        summary: `A key can spend up to ${Number(budget.dailyFractionBps) / 100}% a day of the ${budget.asset} a linked wallet holds on ${network.name}.`,
        detail,
      }),
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
      return item({ id: `x402:${index}`, group: 'Payments', name: line.label, state, detail: line.value });
    });
  },
};

/** Pay-per-token sessions (lib/payments/session): on, off or misconfigured, from the environment only. */
const sessionSource: StatusSource = {
  id: 'sessions',
  async collect({ db, env }) {
    const name = 'Pay-per-token sessions (MPP payment channels)';
    const loaded = loadSessionConfig(env);
    if (loaded.state === 'disabled') return [item({ id: 'sessions', group: 'Payments', name, state: 'disabled', detail: 'Off: set SESSION_ESCROW (and the other SESSION_* settings) to enable.' })];
    if (loaded.state === 'misconfigured') return [item({ id: 'sessions', group: 'Payments', name, state: 'operator_action', detail: `Misconfigured, session credentials are refused: ${loaded.reason}` })];
    const { config } = loaded;
    const open = await db.sessionChannel.count({ where: { status: 'OPEN' } });
    const minimum = `$${(Number(config.minDeposit) / 1e6).toFixed(2)}`;
    return [
      item({
        id: 'sessions',
        group: 'Payments',
        name,
        state: 'live',
        summary: `Available: open a payment channel (at least ${minimum}) and pay per token as you go.`,
        // The RPC by host only: its URL may carry a key.
        detail: `Channels on chain ${config.chainId} via ${new URL(config.rpcUrl).host}: escrow ${config.escrow}, token ${config.token}, payee ${config.payee}; minimum deposit ${minimum}; ${open} open.`,
      }),
    ];
  },
};

/**
 * How sellers are paid: USDC on chain (lib/payments/payouts), and Stripe Connect (bank payouts),
 * which is not built: it needs the operator's Stripe platform account with Connect and seller
 * onboarding, so it is listed as the operator's to do rather than hidden.
 */
const sellerPayoutSource: StatusSource = {
  id: 'seller-payouts',
  collect({ env }) {
    const group = 'Seller payouts';
    const loaded = loadPayoutConfig(env);
    const usdcName = 'USDC payouts to sellers';
    const usdc =
      loaded.state === 'enabled'
        ? item({
            id: 'seller-payouts:usdc',
            group,
            name: usdcName,
            state: 'live',
            summary: `Sellers are paid weekly in USDC on ${loaded.chain.network.name}, to the wallet linked to their account.`,
            detail: `Signer ${loaded.chain.signer} pays token ${loaded.chain.token} on chain ${loaded.chain.chainId} via ${loaded.chain.network.rpcEnv}; ${loaded.chain.confirmations} confirmation(s); minimum $${(Number(loaded.policy.minimum) / 1e6).toFixed(2)}; holding ${loaded.policy.holdingMs / 86_400_000} days. Keep the signer funded with USDC and gas.`,
          })
        : loaded.state === 'misconfigured'
          ? item({ id: 'seller-payouts:usdc', group, name: usdcName, state: 'operator_action', summary: 'Seller payouts are paused until the operator fixes their settings; earnings are kept.', detail: `Misconfigured: ${loaded.reason}` })
          : item({ id: 'seller-payouts:usdc', group, name: usdcName, state: 'disabled', summary: 'Sellers are not paid out on this instance yet; their earnings are kept.', detail: 'Off: set SELLER_PAYOUT_NETWORK and SELLER_PAYOUT_PRIVATE_KEY (a dedicated wallet holding USDC and gas).' });
    const stripe = item({
      id: 'seller-payouts:stripe-connect',
      group,
      name: 'Bank payouts (Stripe Connect)',
      state: 'operator_action',
      summary: 'Payouts to a bank account are not available yet: sellers are paid in USDC to a linked wallet.',
      detail: 'Not built: needs a Stripe platform account with Connect enabled, seller onboarding (Express accounts, identity checks) and a payout integration. Until then sellers are paid in USDC only.',
    });
    return [usdc, stripe];
  },
};

const NOT_SET_UP = 'Not set up on this instance: its models cannot be used here yet.';

function misconfigured(base: Pick<StatusItem, 'id' | 'group' | 'name'>, detail: string, checkedAt: string | null = null): StatusItem {
  return item({ ...base, state: 'operator_action', checkedAt, summary: 'Not usable on this instance until the operator corrects its settings: its models cannot be used here for now.', detail });
}

/** One provider's line from its catalogue state and its probe; the probe says whether the host answers, no more. */
async function providerLine(provider: Catalog['providers'][number], { env, probe }: StatusContext): Promise<StatusItem> {
  const base = { id: `provider:${provider.id}`, group: 'Model providers', name: provider.name };
  if (provider.status === 'disabled') {
    return item({ ...base, state: 'disabled', summary: 'Switched off by the operator: its models cannot be used here for now.', detail: `Disabled by an administrator: ${provider.reason ?? 'no reason given'}.` });
  }
  if (provider.status !== 'live') return item({ ...base, state: 'operator_action', summary: NOT_SET_UP, detail: provider.reason ?? 'Not configured.' });
  const result = await probe(provider.id);
  const checkedAt = result.checkedAt.toISOString();
  const why = result.reason ? ` (${result.reason})` : '';
  if (result.outcome === 'not_configured') return item({ ...base, state: 'operator_action', checkedAt, summary: NOT_SET_UP, detail: 'Not configured.' });
  let target = 'in-process';
  if (provider.id !== 'local') {
    // The host only: a base URL may carry credentials in its user-info or query.
    const url = probeUrl(providerConnection(provider.id, env as NodeJS.ProcessEnv).baseURL);
    if (!url.ok) return misconfigured(base, `${providerUrlVar(provider.id)} is ${url.problem}.`, checkedAt);
    target = url.url.host;
  }
  if (result.outcome === 'misconfigured') return misconfigured(base, `The probe found the settings unusable${why}.`, checkedAt);
  const timing = result.latencyMs === null ? '' : ` in ${result.latencyMs} ms`;
  switch (result.outcome) {
    case 'up':
      return item({ ...base, state: 'live', checkedAt, summary: `Reachable: ${provider.name} answered the last check.`, detail: `Probe answered${timing} (${target}); a reachability check, without a key and without calling a model.` });
    case 'error':
      return item({ ...base, state: 'third_party', checkedAt, summary: `${provider.name} is answering with errors: calls to its models may fail until it recovers.`, detail: `Probe got a server error${why}${timing} from ${target}.` });
    case 'down':
      return item({ ...base, state: 'third_party', checkedAt, summary: `${provider.name} cannot be reached right now: calls to its models fail until it is back.`, detail: `Probe could not reach ${target}${why}.` });
  }
}

const providerSource: StatusSource = {
  id: 'providers',
  async collect(ctx) {
    const catalog = await loadCatalog(ctx.db, ctx.env as NodeJS.ProcessEnv);
    // Each provider on its own: one that cannot be checked must not take the others' lines with it.
    return Promise.all(
      catalog.providers.map(async (provider) => {
        try {
          return await providerLine(provider, ctx);
        } catch (error) {
          return misconfigured({ id: `provider:${provider.id}`, group: 'Model providers', name: provider.name }, `The check failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
  },
};

const globalForStatus = globalThis as unknown as { tollgateStatusSources?: Map<string, StatusSource> };
const sources = (globalForStatus.tollgateStatusSources ??= new Map([depositSource, walletBudgetSource, x402Source, sessionSource, sellerPayoutSource, providerSource].map((s) => [s.id, s])));

/** Adds (or, with an existing id, replaces) a status source. */
export function registerStatusSource(source: StatusSource): void {
  sources.set(source.id, source);
}

/** Every line from every source; a source that fails shows as one line saying so. */
export async function collectStatus({
  db,
  env = process.env,
  probeTimeoutMs = 2_500,
  probe,
}: {
  db: Db;
  env?: Record<string, string | undefined>;
  probeTimeoutMs?: number;
  /** Provider health probes; by default the process's cache (lib/providers/health.ts). */
  probe?: StatusContext['probe'];
}): Promise<StatusItem[]> {
  const ctx: StatusContext = { db, env, probeTimeoutMs, probe: probe ?? ((provider) => providerProbes.get(provider, { env, timeoutMs: probeTimeoutMs })) };
  const results = await Promise.all(
    [...sources.values()].map(async (source) => {
      try {
        return await source.collect(ctx);
      } catch (error) {
        return [
          item({
            id: source.id,
            group: 'Other',
            name: source.id,
            state: 'operator_action',
            summary: 'This check failed; the operator can see why.',
            detail: `Status unavailable: ${error instanceof Error ? error.message : String(error)}`,
          }),
        ];
      }
    }),
  );
  return results.flat();
}
