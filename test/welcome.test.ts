import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthAdapter } from '../lib/auth/adapter';
import { createAuthUser } from '../lib/auth/users';
import { grantBucket, grantWelcomeCredit, pruneWelcomeGrantQuota, welcomeCreditAmount, welcomeCreditDays, welcomeGrantCaps, welcomeLotAccountId, welcomeLotId } from '../lib/credits/welcome';
import { runWithRequestContext } from '../lib/http/request-context';
import { newId } from '../lib/ids';
import { auditLedger, Ledger, SYSTEM_ACCOUNTS, walletAccountId } from '../lib/ledger';
import { expirePackLots } from '../lib/packs/packs';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

const DAY_MS = 86_400_000;
const balanceOf = async (accountId: string) => (await t.db.ledgerAccount.findUnique({ where: { id: accountId } }))?.balance ?? null;
const walletOf = (userId: string) => balanceOf(walletAccountId(userId));
const newUser = async () => (await t.db.user.create({ data: { id: newId('usr'), email: `${newId('usr')}@example.test` } })).id;
const welcomeLotOf = (userId: string) => t.db.packLot.findFirst({ where: { userId, kind: 'WELCOME' } });
const quotaOf = async (address: string, day: string) => (await t.db.welcomeGrantQuota.findUnique({ where: { address_day: { address, day } } }))?.count ?? 0;

describe('welcome credit settings', () => {
  it('is $10 by default, configurable, 0 disables; a malformed amount falls back to the default', () => {
    expect(welcomeCreditAmount({})).toBe(10_000_000n);
    expect(welcomeCreditAmount({ WELCOME_CREDIT_USD: '2.5' })).toBe(2_500_000n);
    expect(welcomeCreditAmount({ WELCOME_CREDIT_USD: '0' })).toBe(0n);
    expect(welcomeCreditAmount({ WELCOME_CREDIT_USD: 'ten' })).toBe(10_000_000n);
  });

  it('lasts 30 days unless WELCOME_CREDIT_DAYS says otherwise; caps 3 new accounts per address a day, 30 for unknown addresses', () => {
    expect(welcomeCreditDays({})).toBe(30);
    expect(welcomeCreditDays({ WELCOME_CREDIT_DAYS: '7' })).toBe(7);
    expect(welcomeCreditDays({ WELCOME_CREDIT_DAYS: '0' })).toBe(30);
    expect(welcomeCreditDays({ WELCOME_CREDIT_DAYS: 'soon' })).toBe(30);
    expect(welcomeGrantCaps({})).toEqual({ perAddress: 3, unknownAddress: 30 });
    expect(welcomeGrantCaps({ WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '5' })).toEqual({ perAddress: 5, unknownAddress: 50 });
    expect(welcomeGrantCaps({ WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '0', WELCOME_CREDIT_UNKNOWN_ADDRESS_PER_DAY: '4' })).toEqual({ perAddress: 0, unknownAddress: 4 });
    expect(welcomeGrantCaps({ WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '-1' })).toEqual({ perAddress: 3, unknownAddress: 30 });
  });

  it('counts an IPv4 address as itself, an IPv6 address by its /64, and no address as one "unknown" bucket', () => {
    expect(grantBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(grantBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(grantBucket('2001:0DB8:0001:0002:ffff:ffff:ffff:fffe')).toBe('2001:db8:1:2::/64');
    expect(grantBucket('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(grantBucket('::1')).toBe('0:0:0:0::/64');
    expect(grantBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(grantBucket('64:ff9b::198.51.100.1')).toBe('64:ff9b:0:0::/64');
    expect(grantBucket(null)).toBe('unknown');
    expect(grantBucket('not an address')).toBe('unknown');
  });
});

describe('the welcome grant', () => {
  it('creates a playground-only lot funded from the promo account, once, however often it is called; the wallet stays empty', async () => {
    const userId = await newUser();
    const now = new Date('2026-06-01T12:00:00Z');
    const first = await grantWelcomeCredit({ db: t.db, userId, env: {}, clientAddress: '192.0.2.1', now });
    const second = await grantWelcomeCredit({ db: t.db, userId, env: {}, clientAddress: '192.0.2.1', now });
    expect(first).toEqual({ granted: true, amount: 10_000_000n, lotId: welcomeLotId(userId), expiresAt: new Date('2026-07-01T12:00:00Z') });
    expect(second).toEqual({ granted: false, amount: 10_000_000n, reason: 'already_granted' });

    const lot = await welcomeLotOf(userId);
    expect(lot).toMatchObject({ id: welcomeLotId(userId), kind: 'WELCOME', packId: null, playgroundOnly: true, faceValue: 10_000_000n, status: 'ACTIVE', scopeModelId: null, scopeProviderId: null });
    expect(lot!.expiresAt.toISOString()).toBe('2026-07-01T12:00:00.000Z');
    expect(await balanceOf(welcomeLotAccountId(userId))).toBe(10_000_000n);
    expect(await walletOf(userId)).toBeNull();

    const tx = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { idempotencyKey: `welcome:${userId}` }, include: { entries: true } });
    expect(tx.kind).toBe('welcome_credit');
    expect(tx.entries.map((e) => [e.accountId, e.amount]).sort()).toEqual(
      [
        ['acc_system_promo', -10_000_000n],
        [welcomeLotAccountId(userId), 10_000_000n],
      ].sort(),
    );
    // The replay did not count against the address.
    expect(await quotaOf('192.0.2.1', '2026-06-01')).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('WELCOME_CREDIT_DAYS sets the expiry', async () => {
    const userId = await newUser();
    const now = new Date('2026-06-01T00:00:00Z');
    await grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_DAYS: '7' }, clientAddress: '192.0.2.2', now });
    expect((await welcomeLotOf(userId))!.expiresAt.toISOString()).toBe('2026-06-08T00:00:00.000Z');
  });

  it('is concurrency-safe: 20 parallel grants for one user credit once and count once against the address', async () => {
    const userId = await newUser();
    const now = new Date('2026-06-02T00:00:00Z');
    const results = await Promise.all(Array.from({ length: 20 }, () => grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_USD: '3' }, clientAddress: '192.0.2.3', now })));
    expect(results.filter((r) => r.granted)).toHaveLength(1);
    expect(await balanceOf(welcomeLotAccountId(userId))).toBe(3_000_000n);
    expect(await t.db.packLot.count({ where: { userId } })).toBe(1);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `welcome:${userId}` } })).toBe(1);
    expect(await quotaOf('192.0.2.3', '2026-06-02')).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('WELCOME_CREDIT_USD=0 grants nothing and writes nothing', async () => {
    const userId = await newUser();
    expect(await grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_USD: '0' }, clientAddress: '192.0.2.4' })).toEqual({ granted: false, amount: 0n, reason: 'disabled' });
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `welcome:${userId}` } })).toBe(0);
    expect(await t.db.packLot.count({ where: { userId } })).toBe(0);
    const created = await createAuthUser({ db: t.db, env: { WELCOME_CREDIT_USD: '0' }, email: `zero-${Date.now()}@example.test`, clientAddress: '192.0.2.4' });
    expect(await walletOf(created.id)).toBe(0n);
    expect(await welcomeLotOf(created.id)).toBeNull();
  });

  it('the 4th new account from one address on one UTC day gets none, another address does, and the next day opens again', async () => {
    const env = { WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '3' };
    const day1 = new Date('2026-06-03T23:59:00Z');
    const day2 = new Date('2026-06-04T00:01:00Z');
    const grant = async (clientAddress: string, now: Date) => grantWelcomeCredit({ db: t.db, userId: await newUser(), env, clientAddress, now });
    const sameAddress = [];
    for (let i = 0; i < 4; i++) sameAddress.push(await grant('198.51.100.1', day1));
    expect(sameAddress.map((r) => r.granted)).toEqual([true, true, true, false]);
    expect(sameAddress[3]).toEqual({ granted: false, amount: 10_000_000n, reason: 'address_cap' });
    expect((await grant('198.51.100.2', day1)).granted).toBe(true);
    expect((await grant('198.51.100.1', day2)).granted).toBe(true);
    expect(await quotaOf('198.51.100.1', '2026-06-03')).toBe(3);
    expect(await quotaOf('198.51.100.1', '2026-06-04')).toBe(1);
    // A refused grant leaves no lot, no ledger transaction and no wallet money.
    const refusedUser = await newUser();
    expect((await grantWelcomeCredit({ db: t.db, userId: refusedUser, env, clientAddress: '198.51.100.1', now: day1 })).granted).toBe(false);
    expect(await t.db.packLot.count({ where: { userId: refusedUser } })).toBe(0);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `welcome:${refusedUser}` } })).toBe(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('addresses in one IPv6 /64 share a quota; unknown addresses share one bucket with its own cap', async () => {
    const now = new Date('2026-06-05T10:00:00Z');
    const env = { WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '1', WELCOME_CREDIT_UNKNOWN_ADDRESS_PER_DAY: '2' };
    const grant = async (clientAddress: string | null) => (await grantWelcomeCredit({ db: t.db, userId: await newUser(), env, clientAddress, now })).granted;
    expect(await grant('2001:db8:5:6::1')).toBe(true);
    expect(await grant('2001:db8:5:6:ffff::2')).toBe(false);
    expect(await grant('2001:db8:5:7::1')).toBe(true);
    expect([await grant(null), await grant(null), await grant(null)]).toEqual([true, true, false]);
  });

  it('outside a request context the address is unknown: a caller that forgets it is capped, not exempt', async () => {
    const now = new Date('2026-06-06T10:00:00Z');
    const env = { WELCOME_CREDIT_UNKNOWN_ADDRESS_PER_DAY: '1' };
    expect((await grantWelcomeCredit({ db: t.db, userId: await newUser(), env, now })).granted).toBe(true);
    expect((await grantWelcomeCredit({ db: t.db, userId: await newUser(), env, now })).granted).toBe(false);
    // Inside one, the context's address counts.
    const inContext = await runWithRequestContext({ clientAddress: '192.0.2.60' }, async () => grantWelcomeCredit({ db: t.db, userId: await newUser(), env, now }));
    expect(inContext.granted).toBe(true);
    expect(await quotaOf('192.0.2.60', '2026-06-06')).toBe(1);
  });

  it('is granted when the sign-in adapter creates a user (with the address of the request context), and only then', async () => {
    const adapter = createAuthAdapter({ db: t.db, env: { WELCOME_CREDIT_USD: '10' } });
    const email = `new-${Date.now()}@example.test`;
    const user = await runWithRequestContext({ clientAddress: '192.0.2.77' }, () => adapter.createUser!({ email, emailVerified: new Date() } as never));
    expect(await balanceOf(welcomeLotAccountId(user.id))).toBe(10_000_000n);
    expect(await walletOf(user.id)).toBe(0n);
    expect((await t.db.welcomeGrantQuota.findMany({ where: { address: '192.0.2.77' } })).map((q) => q.count)).toEqual([1]);
    // Signing in again finds the same user and updates it, and a second grant for it (from another
    // address, with quota to spare) is refused: no second credit.
    expect((await adapter.getUserByEmail!(email))?.id).toBe(user.id);
    await runWithRequestContext({ clientAddress: '192.0.2.78' }, () => adapter.updateUser!({ id: user.id, emailVerified: new Date() }));
    expect(await grantWelcomeCredit({ db: t.db, userId: user.id, env: { WELCOME_CREDIT_USD: '10' }, clientAddress: '192.0.2.78' })).toMatchObject({ granted: false, reason: 'already_granted' });
    expect(await t.db.packLot.count({ where: { userId: user.id } })).toBe(1);
    expect(await balanceOf(welcomeLotAccountId(user.id))).toBe(10_000_000n);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('an account credited before welcome lots existed (into its wallet, same key) is not credited again', async () => {
    const userId = await newUser();
    await t.db.ledgerAccount.create({ data: { id: walletAccountId(userId), code: `wallet:${userId}`, kind: 'USER_WALLET', userId } });
    await new Ledger(t.db).transfer({
      idempotencyKey: `welcome:${userId}`,
      kind: 'welcome_credit',
      entries: [
        { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -10_000_000n },
        { accountId: walletAccountId(userId), amount: 10_000_000n },
      ],
    });
    expect(await grantWelcomeCredit({ db: t.db, userId, env: {}, clientAddress: '192.0.2.5' })).toEqual({ granted: false, amount: 10_000_000n, reason: 'already_granted' });
    expect(await walletOf(userId)).toBe(10_000_000n);
    expect(await welcomeLotOf(userId)).toBeNull();
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('an expired welcome lot gives what is left back to the promo account, not to breakage', async () => {
    const userId = await newUser();
    const grantedAt = new Date(Date.now() - 31 * DAY_MS);
    await grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_USD: '4' }, clientAddress: '192.0.2.6', now: grantedAt });
    // Only welcome lots exist in this file's database, so nothing may reach breakage.
    const breakageBefore = await balanceOf(SYSTEM_ACCOUNTS.breakage.id);
    expect(await expirePackLots({ db: t.db, ledger: new Ledger(t.db) })).toBeGreaterThanOrEqual(1);
    expect((await welcomeLotOf(userId))!.status).toBe('EXPIRED');
    expect(await balanceOf(welcomeLotAccountId(userId))).toBe(0n);
    expect(await balanceOf(SYSTEM_ACCOUNTS.breakage.id)).toBe(breakageBefore);
    const expiry = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { idempotencyKey: `lot-expiry:${welcomeLotId(userId)}` }, include: { entries: true } });
    expect(expiry.kind).toBe('welcome_expiry');
    expect(expiry.entries.map((e) => [e.accountId, e.amount]).sort()).toEqual(
      [
        [welcomeLotAccountId(userId), -4_000_000n],
        [SYSTEM_ACCOUNTS.promo.id, 4_000_000n],
      ].sort(),
    );
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('the grant counters', () => {
  it('are forgotten once their day cannot decide a grant any more (before yesterday)', async () => {
    const address = `198.51.100.${Math.floor(Math.random() * 200)}`;
    for (const day of ['2026-11-28', '2026-11-29', '2026-11-30', '2026-12-01']) await t.db.welcomeGrantQuota.create({ data: { address, day, count: 1 } });
    expect(await pruneWelcomeGrantQuota({ db: t.db, now: new Date('2026-12-01T00:30:00Z') })).toBeGreaterThanOrEqual(2);
    const left = await t.db.welcomeGrantQuota.findMany({ where: { address }, orderBy: { day: 'asc' } });
    expect(left.map((row) => row.day)).toEqual(['2026-11-30', '2026-12-01']);
  });
});
