import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthAdapter } from '../lib/auth/adapter';
import { createAuthUser } from '../lib/auth/users';
import { grantWelcomeCredit, welcomeCreditAmount } from '../lib/credits/welcome';
import { newId } from '../lib/ids';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

const balanceOf = async (userId: string) => (await t.db.ledgerAccount.findUnique({ where: { id: walletAccountId(userId) } }))?.balance ?? null;
const newUser = async () => (await t.db.user.create({ data: { id: newId('usr'), email: `${newId('usr')}@example.test` } })).id;

describe('welcome credit', () => {
  it('is $10 by default, configurable, 0 disables; a malformed amount falls back to the default', () => {
    expect(welcomeCreditAmount({})).toBe(10_000_000n);
    expect(welcomeCreditAmount({ WELCOME_CREDIT_USD: '2.5' })).toBe(2_500_000n);
    expect(welcomeCreditAmount({ WELCOME_CREDIT_USD: '0' })).toBe(0n);
    expect(welcomeCreditAmount({ WELCOME_CREDIT_USD: 'ten' })).toBe(10_000_000n);
  });

  it('credits the wallet from the promo account exactly once, however often it is called', async () => {
    const userId = await newUser();
    const first = await grantWelcomeCredit({ db: t.db, userId, env: {} });
    const second = await grantWelcomeCredit({ db: t.db, userId, env: {} });
    expect(first).toEqual({ amount: 10_000_000n, granted: true });
    expect(second).toEqual({ amount: 10_000_000n, granted: false });
    expect(await balanceOf(userId)).toBe(10_000_000n);
    const tx = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { idempotencyKey: `welcome:${userId}` }, include: { entries: true } });
    expect(tx.kind).toBe('welcome_credit');
    expect(tx.entries.map((e) => [e.accountId, e.amount]).sort()).toEqual(
      [
        ['acc_system_promo', -10_000_000n],
        [walletAccountId(userId), 10_000_000n],
      ].sort(),
    );
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('is concurrency-safe: 20 parallel grants credit once', async () => {
    const userId = await newUser();
    const results = await Promise.all(Array.from({ length: 20 }, () => grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_USD: '3' } })));
    expect(results.filter((r) => r.granted)).toHaveLength(1);
    expect(await balanceOf(userId)).toBe(3_000_000n);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `welcome:${userId}` } })).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('WELCOME_CREDIT_USD=0 grants nothing and writes no transaction', async () => {
    const userId = await newUser();
    expect(await grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_USD: '0' } })).toEqual({ amount: 0n, granted: false });
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `welcome:${userId}` } })).toBe(0);
    const created = await createAuthUser({ db: t.db, env: { WELCOME_CREDIT_USD: '0' }, email: `zero-${Date.now()}@example.test` });
    expect(await balanceOf(created.id)).toBe(0n);
  });

  it('is granted when the sign-in adapter creates a user, and only then', async () => {
    const adapter = createAuthAdapter({ db: t.db, env: { WELCOME_CREDIT_USD: '10' } });
    const email = `new-${Date.now()}@example.test`;
    const user = await adapter.createUser!({ email, emailVerified: new Date() } as never);
    expect(await balanceOf(user.id)).toBe(10_000_000n);
    // Signing in again finds the same user: no second credit.
    expect((await adapter.getUserByEmail!(email))?.id).toBe(user.id);
    expect(await balanceOf(user.id)).toBe(10_000_000n);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});
