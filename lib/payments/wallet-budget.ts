import { erc20Abi, getAddress, isAddress, isAddressEqual, type Address, type PublicClient } from 'viem';
import { z } from 'zod';
import { insertAudit } from '../audit';
import type { Db } from '../db/client';
import { sqlFor } from '../db/client';
import { sql } from '../db/sql';
import { invalidRequest, notFound, parseOrThrow } from '../http/errors';
import { createGuards } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { noteKeysChanged } from '../keys/key-changes';
import { logger } from '../logger';
import { microsToUsdNumber, type Micros } from '../money';
import { TOKEN_DECIMALS, findNetwork, publicClientFor, type NetworkConfig, type PaymentsConfig } from './networks';
import { describeRpcError } from './rpc-errors';

/**
 * Wallet-backed key budgets: a key's daily dollar budget follows a linked wallet's on-chain
 * balance of one configured token (WALLET_BUDGET_TOKEN on WALLET_BUDGET_NETWORK):
 *   budget = balance × the admin-set USD rate (Setting `wallet_budget_usd_rate`) × WALLET_BUDGET_DAILY_FRACTION,
 * rounded down to the micro-dollar and snapshotted into ApiKey.dailyBudget every
 * WALLET_BUDGET_SNAPSHOT_MS, so the gateway enforces it as any other daily budget. Until an admin
 * sets the rate, or when the balance cannot be read for a new key, the budget is zero: a key
 * backed by a wallet never spends more than a verified balance allows.
 */

export const WALLET_BUDGET_RATE_SETTING = 'wallet_budget_usd_rate';

/** "1", "0.9985": USD per whole token, at most 6 decimals → micro-USD per token. */
const rateSchema = z
  .string()
  .trim()
  .regex(/^\d{1,9}(\.\d{1,6})?$/, 'must be a non-negative decimal USD rate with at most 6 decimals')
  .transform((value) => {
    const [whole, fraction = ''] = value.split('.');
    return BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
  });

export async function getWalletBudgetRate(db: Db): Promise<Micros | null> {
  const row = await db.setting.findUnique({ where: { key: WALLET_BUDGET_RATE_SETTING } });
  if (!row) return null;
  const parsed = rateSchema.safeParse(row.value);
  return parsed.success ? parsed.data : null;
}

/** balance (atomic units) × rate (micro-USD per token) × fraction (basis points), rounded down. */
export function walletDailyBudget(balanceAtomic: bigint, rateMicros: Micros, fractionBps: bigint, decimals = TOKEN_DECIMALS): Micros {
  return (balanceAtomic * rateMicros * fractionBps) / (10n ** BigInt(decimals) * 10_000n);
}

function budgetSource(config: PaymentsConfig): { network: NetworkConfig; token: Address } | null {
  if (!config.walletBudget) return null;
  const network = findNetwork(config, config.walletBudget.network);
  const token = network?.tokens[config.walletBudget.asset];
  return network && token ? { network, token } : null;
}

/**
 * The ApiKey fields for a create or update that sets `budget_wallet` (the account API's mapping):
 * the wallet must be the user's linked wallet; its budget starts at zero until the first snapshot.
 * Unlinking (null) gives the key the `daily_budget_usd` sent along, or no budget.
 */
export async function budgetWalletFields(
  { db, config, userId, keyId }: { db: Db; config: () => PaymentsConfig; userId: string; keyId?: string },
  input: { budget_wallet?: string | null; daily_budget_usd?: bigint | null },
) {
  if (input.budget_wallet === undefined) {
    // An edit of a wallet-backed key's budget alone would be overwritten by the next snapshot: say so instead.
    if (keyId && input.daily_budget_usd !== undefined) {
      const key = await db.apiKey.findFirst({ where: { id: keyId, userId }, select: { budgetWallet: true } });
      if (key?.budgetWallet) throw invalidRequest('This key takes its daily budget from its wallet; send budget_wallet: null to set a fixed budget.', 'daily_budget_usd');
    }
    return {};
  }
  if (input.budget_wallet === null) {
    return { budgetWallet: null, budgetWalletAtomic: null, budgetSnapshotAt: null, dailyBudget: input.daily_budget_usd ?? null };
  }
  if (input.daily_budget_usd !== undefined && input.daily_budget_usd !== null) {
    throw invalidRequest('A wallet-backed key takes its daily budget from the wallet; do not send daily_budget_usd with budget_wallet.', 'daily_budget_usd');
  }
  if (!budgetSource(config())) {
    throw invalidRequest('Wallet-backed budgets are not enabled on this instance (WALLET_BUDGET_NETWORK and WALLET_BUDGET_TOKEN).', 'budget_wallet', 'wallet_budget_disabled');
  }
  if (!isAddress(input.budget_wallet, { strict: false })) throw invalidRequest('must be a 0x-prefixed 20-byte address', 'budget_wallet');
  const wallet = getAddress(input.budget_wallet);
  const user = await db.user.findUnique({ where: { id: userId }, select: { walletAddress: true } });
  if (!user?.walletAddress || !isAddressEqual(getAddress(user.walletAddress), wallet)) {
    throw invalidRequest("budget_wallet must be your account's linked wallet.", 'budget_wallet', 'wallet_not_linked');
  }
  return { budgetWallet: wallet, budgetWalletAtomic: null, budgetSnapshotAt: null, dailyBudget: 0n };
}

/** How a wallet-backed key shows its budget (null for other keys). */
export function budgetWalletView(key: { budgetWallet: string | null; budgetWalletAtomic: bigint | null; budgetSnapshotAt: Date | null; dailyBudget: bigint | null }) {
  if (!key.budgetWallet) return null;
  return {
    address: key.budgetWallet,
    balance_atomic: key.budgetWalletAtomic?.toString() ?? null,
    daily_budget_usd: key.dailyBudget === null ? null : microsToUsdNumber(key.dailyBudget),
    snapshot_at: key.budgetSnapshotAt?.toISOString() ?? null,
  };
}

export type SnapshotResult = { updated: number; failed: number };

/**
 * Re-reads the balance of every wallet-backed key whose snapshot is due (never taken, or older
 * than WALLET_BUDGET_SNAPSHOT_MS) and writes the budget. A balance that cannot be read keeps the
 * previous snapshot; the next pass tries again.
 */
export async function snapshotWalletBudgets({
  db,
  config,
  clientFor = publicClientFor,
  now = new Date(),
  force = false,
}: {
  db: Db;
  config: PaymentsConfig;
  clientFor?: (network: NetworkConfig) => PublicClient | null;
  now?: Date;
  force?: boolean;
}): Promise<SnapshotResult> {
  const source = budgetSource(config);
  if (!source || !config.walletBudget) return { updated: 0, failed: 0 };
  const client = clientFor(source.network);
  if (!client) return { updated: 0, failed: 0 };
  const dueBefore = new Date(now.getTime() - config.walletBudget.snapshotMs);
  const keys = await db.apiKey.findMany({
    where: {
      budgetWallet: { not: null },
      revokedAt: null,
      ...(force ? {} : { OR: [{ budgetSnapshotAt: null }, { budgetSnapshotAt: { lte: dueBefore } }] }),
    },
    select: { id: true, budgetWallet: true },
    take: 500,
  });
  if (keys.length === 0) return { updated: 0, failed: 0 };
  const rate = await getWalletBudgetRate(db);
  let updated = 0;
  let failed = 0;
  for (const key of keys) {
    try {
      const balance = await client.readContract({ address: source.token, abi: erc20Abi, functionName: 'balanceOf', args: [getAddress(key.budgetWallet!)] });
      const budget = rate === null ? 0n : walletDailyBudget(balance, rate, config.walletBudget.dailyFractionBps);
      await db.apiKey.updateMany({
        where: { id: key.id, budgetWallet: key.budgetWallet },
        data: { budgetWalletAtomic: balance, dailyBudget: budget, budgetSnapshotAt: now },
      });
      noteKeysChanged();
      updated++;
    } catch (error) {
      failed++;
      // Not the error's message: viem's quotes the RPC URL, which may hold an API key.
      logger.warn('wallet budget snapshot failed', { keyId: key.id, rpc: source.network.rpcEnv, error: describeRpcError(error, source.network.rpcUrl) });
    }
  }
  return { updated, failed };
}

const globalForBudgets = globalThis as unknown as { tollgateWalletBudgets?: NodeJS.Timeout };

/** Runs the snapshots in the background: often enough that a newly backed key gets its budget within a minute. */
export function startWalletBudgetSnapshots({ db, config }: { db: Db; config: PaymentsConfig }) {
  if (globalForBudgets.tollgateWalletBudgets || !config.walletBudget) return;
  let running = false;
  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      snapshotWalletBudgets({ db, config })
        .catch((error: unknown) => logger.error('wallet budget snapshots failed', { error }))
        .finally(() => {
          running = false;
        });
    },
    Math.min(config.walletBudget.snapshotMs, 30_000),
  );
  timer.unref();
  globalForBudgets.tollgateWalletBudgets = timer;
}

// ---------------------------------------------------------------------------------------------
// Admin settings (GET /api/admin/settings, PUT /api/admin/settings/:key)

const SETTINGS = { [WALLET_BUDGET_RATE_SETTING]: rateSchema } as const;
type SettingKey = keyof typeof SETTINGS;

export const putSettingSchema = z.strictObject({ value: z.union([z.string(), z.number()]).transform((v) => String(v)) });

export function createSettingsAdminApi({ db, env = process.env }: { db: Db; env?: Record<string, string | undefined> }) {
  const guard = createGuards({ db, env }).admin;

  // GET /api/admin/settings
  const list = guard(async () => {
    const rows = await db.setting.findMany({ where: { key: { in: Object.keys(SETTINGS) } } });
    return json({
      object: 'list',
      data: Object.keys(SETTINGS).map((key) => {
        const row = rows.find((r) => r.key === key);
        return { key, value: row?.value ?? null, updated_by: row?.updatedBy ?? null, updated_at: row?.updatedAt.toISOString() ?? null };
      }),
    });
  });

  // PUT /api/admin/settings/:key {value} — audited in the same transaction.
  const put = guard(async ({ request, params, actor }) => {
    const key = params.key!;
    if (!(key in SETTINGS)) throw notFound('setting_not_found', `No setting '${key}'. Known: ${Object.keys(SETTINGS).join(', ')}.`);
    const { value } = parseOrThrow(putSettingSchema, await readJsonBody(request));
    parseOrThrow(z.strictObject({ value: SETTINGS[key as SettingKey] }), { value });
    const now = new Date();
    await sqlFor(db).transaction(async (tx) => {
      const [previous] = await tx.query(sql`SELECT "value" FROM "Setting" WHERE "key" = ${key}`);
      const updated = await tx.execute(sql`UPDATE "Setting" SET "value" = ${value}, "updatedBy" = ${actor}, "updatedAt" = ${now} WHERE "key" = ${key}`);
      if (updated === 0) await tx.execute(sql`INSERT INTO "Setting" ("key", "value", "updatedBy", "updatedAt") VALUES (${key}, ${value}, ${actor}, ${now})`);
      await insertAudit(tx, { actor, action: 'setting.update', targetType: 'setting', targetId: key, details: { value, previous: previous ? String(previous.value) : null } });
    });
    // Wallet-backed budgets follow the new rate at the next snapshot pass.
    if (key === WALLET_BUDGET_RATE_SETTING) await db.apiKey.updateMany({ where: { budgetWallet: { not: null } }, data: { budgetSnapshotAt: null } });
    return json({ key, value, updated_by: actor, updated_at: now.toISOString() });
  });

  return { list, put };
}

export type SettingsAdminApi = ReturnType<typeof createSettingsAdminApi>;
