import { isIP } from 'node:net';
import type { Db } from '../db/client';
import { sql, type SqlExecutor } from '../db/sql';
import { utcDay } from '../gateway/day';
import { currentRequestContext } from '../http/request-context';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import { Ledger } from '../ledger/ledger';
import { logger } from '../logger';
import { microsToUsdNumber, usdToMicros, type Micros } from '../money';
import { lotStatus, type LotStatus } from '../ledger/lots';
import type { Env } from '../auth/env';

/**
 * The welcome credit of a new account: a lot of promo money that pays only for calls made in the
 * web playground (never through an API key), expires after WELCOME_CREDIT_DAYS, and is granted
 * to at most WELCOME_CREDIT_PER_ADDRESS_PER_DAY new accounts per client address per UTC day.
 * A key pair or a throwaway address costs nothing, so the credit is a way to try models in the
 * browser, not API money.
 */

const DEFAULT_WELCOME_USD = '10';
const DEFAULT_VALIDITY_DAYS = 30;
const DEFAULT_PER_ADDRESS_PER_DAY = 3;
/** Clients whose address the server cannot tell share one bucket, this many times larger. */
const UNKNOWN_ADDRESS_MULTIPLE = 10;

/** The bucket of every grant whose client address is unknown. */
export const UNKNOWN_ADDRESS_BUCKET = 'unknown';

/** WELCOME_CREDIT_USD (default $10; 0 disables). A value that is not an amount falls back to the default, loudly. */
export function welcomeCreditAmount(env: Env = process.env): Micros {
  const raw = env.WELCOME_CREDIT_USD?.trim();
  if (!raw) return usdToMicros(DEFAULT_WELCOME_USD);
  try {
    return usdToMicros(raw);
  } catch {
    logger.warn('WELCOME_CREDIT_USD is not a USD amount; using the default', { value: raw, default_usd: DEFAULT_WELCOME_USD });
    return usdToMicros(DEFAULT_WELCOME_USD);
  }
}

function wholeNumber(env: Env, name: string, fallback: number, { min, max }: { min: number; max: number }): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (/^\d+$/.test(raw) && value >= min && value <= max) return value;
  logger.warn(`${name} is not a whole number from ${min} to ${max}; using the default`, { value: raw, default: fallback });
  return fallback;
}

/** WELCOME_CREDIT_DAYS: how long the welcome credit lasts (default 30). */
export function welcomeCreditDays(env: Env = process.env): number {
  return wholeNumber(env, 'WELCOME_CREDIT_DAYS', DEFAULT_VALIDITY_DAYS, { min: 1, max: 3650 });
}

/**
 * How many new accounts a day get the welcome credit: per client address
 * (WELCOME_CREDIT_PER_ADDRESS_PER_DAY, default 3; 0 grants none), and in the one bucket of
 * clients whose address is unknown (WELCOME_CREDIT_UNKNOWN_ADDRESS_PER_DAY, default ten times that).
 */
export function welcomeGrantCaps(env: Env = process.env): { perAddress: number; unknownAddress: number } {
  const perAddress = wholeNumber(env, 'WELCOME_CREDIT_PER_ADDRESS_PER_DAY', DEFAULT_PER_ADDRESS_PER_DAY, { min: 0, max: 1_000_000 });
  const unknownAddress = wholeNumber(env, 'WELCOME_CREDIT_UNKNOWN_ADDRESS_PER_DAY', perAddress * UNKNOWN_ADDRESS_MULTIPLE, { min: 0, max: 1_000_000 });
  return { perAddress, unknownAddress };
}

/**
 * The quota bucket of a client address: an IPv4 address as it is, an IPv6 address by its /64
 * (one subscriber's network: anyone on it can pick a fresh address at will), null as "unknown".
 */
export function grantBucket(address: string | null): string {
  if (!address) return UNKNOWN_ADDRESS_BUCKET;
  const bare = address.split('%')[0]!;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) return UNKNOWN_ADDRESS_BUCKET;
  return `${expandIpv6(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, in lowercase hex without leading zeros. */
function expandIpv6(address: string): string[] {
  let text = address.toLowerCase();
  // A dotted IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, null];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === null ? [] : Array.from({ length: 8 - headGroups.length - tailGroups.length }, () => '0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16).toString(16));
}

/** Derived from the user id: one welcome lot per user, and a repeated grant meets the same rows. */
export function welcomeLotId(userId: string): string {
  return `lot_welcome_${userId}`;
}

export function welcomeLotAccountId(userId: string): string {
  return `acc_lot_${welcomeLotId(userId)}`;
}

export type WelcomeGrant =
  | { granted: true; amount: Micros; lotId: string; expiresAt: Date }
  | { granted: false; amount: Micros; reason: 'disabled' | 'already_granted' | 'address_cap' };

/** Thrown inside the grant's transaction when the address's quota is used up, to roll the grant back. */
class AddressCapReached extends Error {}

/**
 * Grants the welcome lot: one ledger transaction moves the amount from the promo account to the
 * lot's own account, created in that same database transaction together with the lot row and
 * the client address's daily count. Its idempotency key is derived from the user id and so are
 * the lot's ids, so however often or concurrently it is called, it credits once; a repeated call
 * rolls back before it counts against the address. A refusal (the address's daily cap) leaves
 * nothing behind.
 *
 * `clientAddress` defaults to the one in the request context (lib/http/request-context.ts);
 * outside any request context it is unknown, so a caller that forgets it lands in the shared
 * "unknown" bucket rather than escaping the cap.
 */
export async function grantWelcomeCredit({
  db,
  userId,
  env = process.env,
  clientAddress = currentRequestContext()?.clientAddress ?? null,
  now = new Date(),
}: {
  db: Db;
  userId: string;
  env?: Env;
  clientAddress?: string | null;
  now?: Date;
}): Promise<WelcomeGrant> {
  const amount = welcomeCreditAmount(env);
  if (amount <= 0n) return { granted: false, amount: 0n, reason: 'disabled' };
  const lotId = welcomeLotId(userId);
  const accountId = welcomeLotAccountId(userId);
  const expiresAt = new Date(now.getTime() + welcomeCreditDays(env) * 86_400_000);
  const bucket = grantBucket(clientAddress);
  const caps = welcomeGrantCaps(env);
  const cap = bucket === UNKNOWN_ADDRESS_BUCKET ? caps.unknownAddress : caps.perAddress;
  const day = utcDay(now);
  try {
    const result = await new Ledger(db).transfer(
      {
        idempotencyKey: `welcome:${userId}`,
        kind: 'welcome_credit',
        memo: 'welcome credit (playground only)',
        actor: 'system',
        entries: [
          { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -amount },
          { accountId, amount },
        ],
      },
      undefined,
      {
        before: async (tx) => {
          // The lot's rows first: a repeated grant fails here on their unique ids (a replay)
          // before it takes anything from the address's quota.
          await tx.execute(sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${accountId}, 'PACK_LOT', ${`lot:${lotId}`}, ${userId}, 0, 0, ${now}, ${now})`);
          await tx.execute(
            sql`INSERT INTO "PackLot" ("id", "userId", "kind", "packId", "accountId", "faceValue", "scopeProviderId", "scopeModelId", "playgroundOnly", "status", "purchasedAt", "expiresAt") VALUES (${lotId}, ${userId}, 'WELCOME', NULL, ${accountId}, ${amount}, NULL, NULL, TRUE, 'ACTIVE', ${now}, ${expiresAt})`,
          );
          if (!(await takeAddressQuota(tx, bucket, day, cap))) throw new AddressCapReached();
        },
      },
    );
    if (result.replayed) return { granted: false, amount, reason: 'already_granted' };
    return { granted: true, amount, lotId, expiresAt };
  } catch (error) {
    if (error instanceof AddressCapReached) {
      logger.info('welcome credit not granted: the daily cap of new accounts from this client address is reached', {
        user_id: userId,
        address_known: bucket !== UNKNOWN_ADDRESS_BUCKET,
        cap,
        day,
      });
      return { granted: false, amount, reason: 'address_cap' };
    }
    // The same key with other entries: a welcome credit from before welcome lots, paid into the wallet.
    if (error instanceof LedgerError && error.code === 'idempotency_conflict') return { granted: false, amount, reason: 'already_granted' };
    throw error;
  }
}

/**
 * One more grant for `bucket` today if fewer than `cap` were made: a conditional increment, which
 * both databases apply atomically (concurrent grants queue on the row), never a count-then-insert.
 */
async function takeAddressQuota(tx: SqlExecutor, bucket: string, day: string, cap: number): Promise<boolean> {
  if (cap <= 0) return false;
  await tx.execute(sql`INSERT INTO "WelcomeGrantQuota" ("address", "day", "count") VALUES (${bucket}, ${day}, 0) ON CONFLICT ("address", "day") DO NOTHING`);
  const updated = await tx.execute(sql`UPDATE "WelcomeGrantQuota" SET "count" = "count" + 1 WHERE "address" = ${bucket} AND "day" = ${day} AND "count" < ${cap}`);
  return updated === 1;
}

/** The welcome lot as the account API shows it: what is left, where it pays, until when. */
export type WelcomeCreditView = {
  lot_id: string;
  face_value_usd: number;
  remaining_usd: number;
  status: LotStatus;
  /** Where it pays: only for calls made in the web playground, never with an API key. */
  scope: 'playground';
  expires_at: string;
};

/** The user's welcome credit, or null when they have none (an older account, a refused grant). */
export async function welcomeCreditOf(db: Db, userId: string, now = new Date()): Promise<WelcomeCreditView | null> {
  const lot = await db.packLot.findFirst({
    where: { userId, kind: 'WELCOME' },
    select: { id: true, faceValue: true, status: true, expiresAt: true, account: { select: { balance: true } } },
  });
  if (!lot) return null;
  return {
    lot_id: lot.id,
    face_value_usd: microsToUsdNumber(lot.faceValue),
    remaining_usd: microsToUsdNumber(lot.account.balance),
    status: lotStatus(lot, lot.account.balance, now),
    scope: 'playground',
    expires_at: lot.expiresAt.toISOString(),
  };
}

/**
 * Forgets the grant counters of days before yesterday: they only ever decide today's grants (one
 * day of slack for clocks at midnight). Called by the sweeper, so the table stays small.
 */
export async function pruneWelcomeGrantQuota({ db, now = new Date() }: { db: Db; now?: Date }): Promise<number> {
  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
  const { count } = await db.welcomeGrantQuota.deleteMany({ where: { day: { lt: yesterday } } });
  return count;
}
