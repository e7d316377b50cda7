import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, LedgerError, SYSTEM_ACCOUNTS, auditLedger, getOrCreateWalletAccount } from '../lib/ledger';
import { writeSettleEntries } from '../lib/ledger/settle-entries';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';

let t: TestDatabase;
let ledger: Ledger;
const revenue = SYSTEM_ACCOUNTS.revenue.id;
const promo = SYSTEM_ACCOUNTS.promo.id;

beforeAll(async () => {
  t = await createTestDatabase();
  ledger = new Ledger(t.db);
});
afterAll(() => t.close());

async function expectAuditClean() {
  const report = await auditLedger(t.db);
  expect(report.problems).toEqual([]);
}

async function ledgerError(promise: Promise<unknown>): Promise<LedgerError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LedgerError);
  return error as LedgerError;
}

describe('transfer', () => {
  it('moves money with balanced entries and replays an idempotency key without moving it twice', async () => {
    const { wallet } = await createFundedUser(t.db, 5_000_000n);
    const input = {
      idempotencyKey: `t-${wallet.id}`,
      kind: 'test',
      entries: [
        { accountId: wallet.id, amount: -1_250_000n },
        { accountId: revenue, amount: 1_250_000n },
      ],
    };
    const first = await ledger.transfer(input);
    const second = await ledger.transfer(input);
    expect(first.replayed).toBe(false);
    expect(second).toEqual({ transactionId: first.transactionId, replayed: true });
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 3_750_000n, available: 3_750_000n, held: 0n });
    await expectAuditClean();
  });

  it('refuses the same idempotency key for a different transfer', async () => {
    const { wallet } = await createFundedUser(t.db, 5_000_000n);
    const entries = (amount: bigint) => [
      { accountId: wallet.id, amount: -amount },
      { accountId: revenue, amount },
    ];
    await ledger.transfer({ idempotencyKey: `c-${wallet.id}`, kind: 'test', entries: entries(1n) });
    const error = await ledgerError(ledger.transfer({ idempotencyKey: `c-${wallet.id}`, kind: 'test', entries: entries(2n) }));
    expect(error.code).toBe('idempotency_conflict');
    expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(4_999_999n);
  });

  it.each([
    ['unbalanced', [{ amount: -5n }, { amount: 4n }]],
    ['a single entry', [{ amount: 0n }]],
    ['a zero entry', [{ amount: 0n }, { amount: 0n }]],
  ])('rejects %s and writes nothing', async (_name, amounts) => {
    const { wallet } = await createFundedUser(t.db, 100n);
    const accounts = [wallet.id, revenue];
    const before = await t.db.ledgerTransaction.count();
    const error = await ledgerError(
      ledger.transfer({ idempotencyKey: `bad-${wallet.id}`, kind: 'test', entries: amounts.map((e, i) => ({ accountId: accounts[i]!, amount: e.amount })) }),
    );
    expect(error.code).toBe('invalid_transaction');
    expect(await t.db.ledgerTransaction.count()).toBe(before);
  });

  it('never overdraws a user account, and the failed attempt leaves no trace', async () => {
    const { wallet } = await createFundedUser(t.db, 1_000n);
    const before = await t.db.ledgerTransaction.count();
    const error = await ledgerError(
      ledger.transfer({
        idempotencyKey: `over-${wallet.id}`,
        kind: 'test',
        entries: [
          { accountId: wallet.id, amount: -1_001n },
          { accountId: revenue, amount: 1_001n },
        ],
      }),
    );
    expect(error.code).toBe('insufficient_funds');
    expect(await t.db.ledgerTransaction.count()).toBe(before);
    expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(1_000n);
    await expectAuditClean();
  });

  it('names a missing account', async () => {
    const error = await ledgerError(
      ledger.transfer({
        idempotencyKey: 'missing-account',
        kind: 'test',
        entries: [
          { accountId: promo, amount: -1n },
          { accountId: 'acc_does_not_exist', amount: 1n },
        ],
      }),
    );
    expect(error.code).toBe('account_not_found');
  });
});

describe('holds', () => {
  /** One wallet, one hold: the reservation's only hold. */
  async function reserveOne(input: { idempotencyKey: string; walletId: string; amount: bigint; ttlMs?: number }) {
    const reservation = await ledger.reserve({ idempotencyKey: input.idempotencyKey, sources: [input.walletId], creditAccountId: revenue, amount: input.amount, ttlMs: input.ttlMs ?? 60_000 });
    expect(reservation.holds).toHaveLength(1);
    return reservation.holds[0]!;
  }

  it('reserve → settle posts the actual amount and returns the rest', async () => {
    const { wallet } = await createFundedUser(t.db, 10_000n);
    const reservation = await ledger.reserve({ idempotencyKey: `r-${wallet.id}`, sources: [wallet.id], creditAccountId: revenue, amount: 4_000n, ttlMs: 60_000 });
    expect(reservation).toMatchObject({ replayed: false, counters: null });
    const [hold] = reservation.holds;
    expect(hold).toMatchObject({ debitAccountId: wallet.id, creditAccountId: revenue, amount: 4_000n, status: 'PENDING', settledAmount: null });
    expect(await ledger.getHoldByKey(`r-${wallet.id}`)).toMatchObject({ id: hold!.id, amount: 4_000n, status: 'PENDING' });
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 10_000n, available: 6_000n, held: 4_000n });

    const [transactionsBefore, entriesBefore] = [await t.db.ledgerTransaction.count(), await t.db.ledgerEntry.count()];
    const settled = await ledger.settle({ holds: [hold!], amount: 1_500n, idempotencyKey: `s-${wallet.id}` });
    expect(settled.replayed).toBe(false);
    // The settled hold is the posting: 1,500 from the wallet to revenue, and no other row.
    expect(await t.db.hold.findUniqueOrThrow({ where: { id: hold!.id } })).toMatchObject({ status: 'SETTLED', settledAmount: 1_500n, transactionId: null, debitAccountId: wallet.id, creditAccountId: revenue });
    expect([await t.db.ledgerTransaction.count(), await t.db.ledgerEntry.count()]).toEqual([transactionsBefore, entriesBefore]);
    expect(settled.holds).toMatchObject([{ id: hold!.id, status: 'SETTLED', settledAmount: 1_500n }]);
    expect(settled.shares).toEqual([1_500n]);
    expect(settled.accounts).toEqual([{ id: wallet.id, balance: 8_500n, available: 8_500n }]);
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 8_500n, available: 8_500n, held: 0n });

    const replay = await ledger.settle({ holds: [hold!], amount: 1_500n, idempotencyKey: `s-${wallet.id}` });
    expect(replay.replayed).toBe(true);
    expect(replay.accounts).toBeNull();
    expect(replay.holds[0]!.settledAmount).toBe(1_500n);
    expect(replay.holds).toEqual(settled.holds);
    expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(8_500n);

    const again = await ledgerError(ledger.settle({ holds: [hold!], amount: 1_500n, idempotencyKey: 'another-key' }));
    expect(again.code).toBe('hold_already_resolved');
    const release = await ledgerError(ledger.release({ holds: [hold!], idempotencyKey: 'late-release' }));
    expect(release.code).toBe('hold_already_resolved');
    expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(8_500n);
    await expectAuditClean();
  });

  it('the audit counts a settled hold as its posting, and a settle transaction as the posting of a hold settled with one before', async () => {
    const { wallet } = await createFundedUser(t.db, 10_000n);
    const now = new Date();
    // A hold settled the way every settlement was before holds posted themselves: 700 of its 1,000
    // by a settle transaction of two entries, the hold pointing at it (written here by hand).
    const old = await reserveOne({ idempotencyKey: `legacy-${wallet.id}`, walletId: wallet.id, amount: 1_000n });
    const txn = `txn_legacy_${wallet.id}`;
    await t.db.$transaction([
      t.db.ledgerTransaction.create({ data: { id: txn, idempotencyKey: `settle:legacy-s-${wallet.id}`, kind: 'settle', createdAt: now } }),
      t.db.ledgerEntry.createMany({ data: [
        { id: `ent_a_${wallet.id}`, transactionId: txn, accountId: wallet.id, amount: -700n, createdAt: now },
        { id: `ent_b_${wallet.id}`, transactionId: txn, accountId: revenue, amount: 700n, createdAt: now },
      ] }),
      t.db.hold.update({ where: { id: old.id }, data: { status: 'SETTLED', settledAmount: 700n, resolveIdempotencyKey: `legacy-s-${wallet.id}`, transactionId: txn, resolvedAt: now } }),
      t.db.ledgerAccount.update({ where: { id: wallet.id }, data: { balance: { decrement: 700n }, available: { increment: 300n } } }),
      t.db.ledgerAccount.update({ where: { id: revenue }, data: { balance: { increment: 700n }, available: { increment: 700n } } }),
    ]);
    // And one settled now: 250 of 400, the hold alone.
    const fresh = await reserveOne({ idempotencyKey: `posted-${wallet.id}`, walletId: wallet.id, amount: 400n });
    await ledger.settle({ holds: [fresh], amount: 250n, idempotencyKey: `posted-s-${wallet.id}` });
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 9_050n, available: 9_050n, held: 0n });
    await expectAuditClean();

    // A settled amount changed without its money moving is caught on both accounts, and so is a
    // legacy hold whose transaction says otherwise.
    await t.db.hold.update({ where: { id: fresh.id }, data: { settledAmount: 260n } });
    const revenueBalance = (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: revenue } })).balance;
    expect((await auditLedger(t.db, { calls: false })).problems.sort()).toEqual(
      [`account ${revenue} balance ${revenueBalance} != postings ${revenueBalance + 10n}`, `account ${wallet.id} balance 9050 != postings 9040`].sort(),
    );
    await t.db.hold.update({ where: { id: fresh.id }, data: { settledAmount: 250n } });
    await t.db.hold.update({ where: { id: old.id }, data: { settledAmount: 690n } });
    expect((await auditLedger(t.db, { calls: false })).problems).toEqual([`hold ${old.id} settled 690 but its transaction posts -700/700`]);
    await t.db.hold.update({ where: { id: old.id }, data: { settledAmount: 700n } });
    await expectAuditClean();
  });

  it('writeSettleEntries records every self-posting hold the older way (a settle transaction of two entries), once, leaving balances and the audit as they were', async () => {
    const { wallet } = await createFundedUser(t.db, 10_000n);
    const hold = await reserveOne({ idempotencyKey: `back-${wallet.id}`, walletId: wallet.id, amount: 900n });
    await ledger.settle({ holds: [hold], amount: 321n, idempotencyKey: `back-s-${wallet.id}` });
    const zero = await reserveOne({ idempotencyKey: `back0-${wallet.id}`, walletId: wallet.id, amount: 50n });
    await ledger.settle({ holds: [zero], amount: 0n, idempotencyKey: `back0-s-${wallet.id}` });
    const balances = await t.db.ledgerAccount.findMany({ orderBy: { id: 'asc' } });

    expect(await writeSettleEntries(t.db)).toBeGreaterThanOrEqual(1);
    const row = await t.db.hold.findUniqueOrThrow({ where: { id: hold.id }, include: { transaction: { include: { entries: true } } } });
    expect(row.transaction).toMatchObject({ kind: 'settle', idempotencyKey: `settle:back-s-${wallet.id}` });
    expect(row.transaction!.entries.map((e) => [e.accountId, e.amount]).sort()).toEqual([[wallet.id, -321n], [revenue, 321n]].sort());
    // The zero settlement posted nothing, then and now.
    expect((await t.db.hold.findUniqueOrThrow({ where: { id: zero.id } })).transactionId).toBeNull();
    expect(await t.db.ledgerAccount.findMany({ orderBy: { id: 'asc' } })).toEqual(balances);
    await expectAuditClean();
    expect(await writeSettleEntries(t.db)).toBe(0);
  });

  it('settling zero resolves the hold without posting', async () => {
    const { wallet } = await createFundedUser(t.db, 100n);
    const hold = await reserveOne({ idempotencyKey: `z-${wallet.id}`, walletId: wallet.id, amount: 100n });
    const transactionsBefore = await t.db.ledgerTransaction.count();
    const settled = await ledger.settle({ holds: [hold], amount: 0n, idempotencyKey: `z-s-${wallet.id}` });
    expect(settled.holds).toMatchObject([{ status: 'SETTLED', settledAmount: 0n }]);
    expect(await t.db.ledgerTransaction.count()).toBe(transactionsBefore);
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 100n, available: 100n, held: 0n });
    await expectAuditClean();
  });

  it('refuses to settle more than the hold', async () => {
    const { wallet } = await createFundedUser(t.db, 1_000n);
    const hold = await reserveOne({ idempotencyKey: `x-${wallet.id}`, walletId: wallet.id, amount: 500n });
    const error = await ledgerError(ledger.settle({ holds: [hold], amount: 501n, idempotencyKey: `x-s-${wallet.id}` }));
    expect(error.code).toBe('settle_exceeds_hold');
    expect((await ledger.getHold({ holdId: hold.id }))?.status).toBe('PENDING');
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 1_000n, available: 500n, held: 500n });
  });

  it('rejects a forged hold reference', async () => {
    const { wallet } = await createFundedUser(t.db, 1_000n);
    const hold = await reserveOne({ idempotencyKey: `f-${wallet.id}`, walletId: wallet.id, amount: 10n });
    const error = await ledgerError(ledger.settle({ holds: [{ ...hold, amount: 900n }], amount: 900n, idempotencyKey: `f-s-${wallet.id}` }));
    expect(error.code).toBe('hold_already_resolved');
    // Nor can a reference naming another credit account redirect the money.
    const redirected = await ledgerError(ledger.settle({ holds: [{ ...hold, creditAccountId: promo }], amount: 10n, idempotencyKey: `f-s2-${wallet.id}` }));
    expect(redirected.code).toBe('hold_already_resolved');
    expect((await ledger.getHold({ holdId: hold.id }))?.status).toBe('PENDING');
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 1_000n, available: 990n, held: 10n });
    await expectAuditClean();
  });

  it('replays a reservation by its idempotency key even after the money is spent', async () => {
    const { wallet } = await createFundedUser(t.db, 300n);
    const input = { idempotencyKey: `rr-${wallet.id}`, sources: [wallet.id], creditAccountId: revenue, amount: 300n, ttlMs: 60_000 };
    const first = await ledger.reserve(input);
    const second = await ledger.reserve(input);
    expect(second.replayed).toBe(true);
    expect(second.holds.map((h) => h.id)).toEqual(first.holds.map((h) => h.id));
    const conflict = await ledgerError(ledger.reserve({ ...input, amount: 200n }));
    expect(conflict.code).toBe('idempotency_conflict');
    expect((await ledger.getAccountBalance({ accountId: wallet.id })).available).toBe(0n);
    // Still the same holds once they are settled and the balance is gone.
    await ledger.settle({ holds: first.holds, amount: 300n, idempotencyKey: `rr-s-${wallet.id}` });
    const third = await ledger.reserve(input);
    expect(third.replayed).toBe(true);
    expect(third.holds).toMatchObject([{ id: first.holds[0]!.id, amount: 300n, status: 'SETTLED', settledAmount: 300n }]);
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 0n, available: 0n, held: 0n });
    await expectAuditClean();
  });

  it('200 concurrent reservations against a balance covering exactly 50: exactly 50 succeed', async () => {
    const unit = 7_000n;
    const { wallet } = await createFundedUser(t.db, unit * 50n);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => ledger.reserve({ idempotencyKey: `conc-${wallet.id}-${i}`, sources: [wallet.id], creditAccountId: revenue, amount: unit, ttlMs: 60_000 })),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(succeeded).toHaveLength(50);
    expect(failed.every((r) => r.reason instanceof LedgerError && r.reason.code === 'insufficient_funds')).toBe(true);
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: unit * 50n, available: 0n, held: unit * 50n });
    expect(await t.db.hold.count({ where: { debitAccountId: wallet.id } })).toBe(50);

    // Settle half concurrently, release the rest: every hold resolves once, nothing goes negative.
    const holds = succeeded.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<Ledger['reserve']>>>).value.holds[0]!);
    await Promise.all(
      holds.map((hold, i) =>
        i % 2 === 0 ? ledger.settle({ holds: [hold], amount: unit / 2n, idempotencyKey: `cs-${hold.id}` }) : ledger.release({ holds: [hold], idempotencyKey: `cr-${hold.id}` }),
      ),
    );
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: unit * 50n - 25n * (unit / 2n), available: unit * 50n - 25n * (unit / 2n), held: 0n });
    await expectAuditClean();
  });

  it('a crashed request’s hold expires and the sweeper releases it exactly once', async () => {
    const { wallet } = await createFundedUser(t.db, 1_000n);
    const hold = await reserveOne({ idempotencyKey: `e-${wallet.id}`, walletId: wallet.id, amount: 800n, ttlMs: 5 });
    const live = await reserveOne({ idempotencyKey: `e2-${wallet.id}`, walletId: wallet.id, amount: 100n });
    const later = new Date(Date.now() + 1_000);
    const [a, b] = await Promise.all([ledger.releaseExpiredHolds({ now: later }), ledger.releaseExpiredHolds({ now: later })]);
    // Two sweeps at once: the one expired hold is released by exactly one of them.
    expect(a + b).toBe(1);
    expect((await ledger.getHold({ holdId: hold.id }))?.status).toBe('EXPIRED');
    expect((await ledger.getHold({ holdId: live.id }))?.status).toBe('PENDING');
    expect(await ledger.getAccountBalance({ accountId: wallet.id })).toEqual({ balance: 1_000n, available: 900n, held: 100n });
    const late = await ledgerError(ledger.settle({ holds: [hold], amount: 800n, idempotencyKey: `e-late-${wallet.id}` }));
    expect(late.code).toBe('hold_expired');
    await ledger.release({ holds: [live], idempotencyKey: `e2-r-${wallet.id}` });
    await expectAuditClean();
  });

  it('a settle and the sweeper, in either order: the first wins, the second changes nothing', async () => {
    for (const sweeperFirst of [true, false]) {
      const { wallet } = await createFundedUser(t.db, 1_000n);
      const hold = await reserveOne({ idempotencyKey: `order-${wallet.id}`, walletId: wallet.id, amount: 600n, ttlMs: 1 });
      const sweep = () => ledger.releaseExpiredHolds({ now: new Date(Date.now() + 1_000) });
      const settle = () => ledger.settle({ holds: [hold], amount: 600n, idempotencyKey: `order-s-${wallet.id}` });
      if (sweeperFirst) {
        expect(await sweep()).toBe(1);
        expect((await ledgerError(settle())).code).toBe('hold_expired');
        expect((await ledger.getHold({ holdId: hold.id }))?.status).toBe('EXPIRED');
        expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(1_000n);
      } else {
        await settle();
        expect(await sweep()).toBe(0);
        expect((await ledger.getHold({ holdId: hold.id }))?.status).toBe('SETTLED');
        expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(400n);
      }
    }
    await expectAuditClean();
  });

  it('a settle racing the sweeper: exactly one resolution wins', async () => {
    for (let i = 0; i < 10; i++) {
      const { wallet } = await createFundedUser(t.db, 1_000n);
      const hold = await reserveOne({ idempotencyKey: `race-${wallet.id}`, walletId: wallet.id, amount: 600n, ttlMs: 1 });
      const outcomes = await Promise.allSettled([
        ledger.settle({ holds: [hold], amount: 600n, idempotencyKey: `race-s-${wallet.id}` }),
        ledger.releaseExpiredHolds({ now: new Date(Date.now() + 1_000) }),
      ]);
      const final = await ledger.getHold({ holdId: hold.id });
      const balance = (await ledger.getAccountBalance({ accountId: wallet.id })).balance;
      if (final?.status === 'SETTLED') {
        expect(outcomes[0]!.status).toBe('fulfilled');
        expect(balance).toBe(400n);
      } else {
        expect(final?.status).toBe('EXPIRED');
        expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'hold_expired' } });
        expect(balance).toBe(1_000n);
      }
    }
    await expectAuditClean();
  });
});

describe('random operation sequences', () => {
  it('keep every invariant after each step', async () => {
    const random = mulberry32(0x7011_6a7e);
    const users = await Promise.all([1, 2, 3].map(() => createFundedUser(t.db, 50_000n)));
    const wallets = users.map((u) => u.wallet.id);
    const pending: Array<Awaited<ReturnType<Ledger['reserve']>>['holds']> = [];
    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
    const amount = () => BigInt(1 + Math.floor(random() * 20_000));
    const tolerated = new Set(['insufficient_funds', 'hold_already_resolved', 'hold_expired']);
    const counts = { reserved: 0, multi: 0, settled: 0, released: 0 };

    for (let step = 0; step < 150; step++) {
      const op = random();
      try {
        if (op < 0.25) {
          const { holds } = await ledger.reserve({ idempotencyKey: `rnd-r-${step}`, sources: [pick(wallets)], creditAccountId: revenue, amount: amount(), ttlMs: 60_000 });
          pending.push(holds);
          counts.reserved += 1;
        } else if (op < 0.4) {
          // Several sources at once: two or three wallets in a random order, each giving what it has.
          const sources = [...wallets].sort(() => random() - 0.5).slice(0, 2 + Math.floor(random() * 2));
          const { holds } = await ledger.reserve({ idempotencyKey: `rnd-m-${step}`, sources, creditAccountId: revenue, amount: amount() * 3n, ttlMs: 60_000 });
          pending.push(holds);
          counts.multi += 1;
        } else if (op < 0.55 && pending.length) {
          const holds = pending.splice(Math.floor(random() * pending.length), 1)[0]!;
          const total = holds.reduce((sum, h) => sum + h.amount, 0n);
          await ledger.settle({ holds, amount: BigInt(Math.floor(random() * Number(total + 1n))), idempotencyKey: `rnd-s-${step}` });
          counts.settled += 1;
        } else if (op < 0.7 && pending.length) {
          const holds = pending.splice(Math.floor(random() * pending.length), 1)[0]!;
          await ledger.release({ holds, idempotencyKey: `rnd-x-${step}` });
          counts.released += 1;
        } else if (op < 0.85) {
          const [from, to] = [pick(wallets), pick(wallets)];
          if (from !== to) {
            const value = amount();
            await ledger.transfer({ idempotencyKey: `rnd-t-${step}`, kind: 'test', entries: [{ accountId: from, amount: -value }, { accountId: to, amount: value }] });
          }
        } else {
          // Replays of earlier keys move nothing.
          const value = amount();
          await ledger.transfer({ idempotencyKey: `rnd-grant-${step % 7}`, kind: 'grant', entries: [{ accountId: promo, amount: -value }, { accountId: pick(wallets), amount: value }] }).catch((e: unknown) => {
            if (!(e instanceof LedgerError && e.code === 'idempotency_conflict')) throw e;
          });
        }
      } catch (error) {
        if (!(error instanceof LedgerError && tolerated.has(error.code))) throw error;
      }
      await expectAuditClean();
    }
    // The sequence exercised every kind of step, not only the refusals.
    expect(Math.min(counts.reserved, counts.multi, counts.settled, counts.released)).toBeGreaterThan(3);
  });
});

function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('wallet accounts', () => {
  it('many concurrent first uses create one wallet account and all of them get it', async () => {
    const user = await t.db.user.create({ data: { id: `usr_race${Date.now()}` } });
    const accounts = await Promise.all(Array.from({ length: 20 }, () => getOrCreateWalletAccount({ db: t.db, userId: user.id })));
    expect(new Set(accounts.map((a) => a.id)).size).toBe(1);
    expect(accounts[0]).toMatchObject({ kind: 'USER_WALLET', userId: user.id, balance: 0n, available: 0n });
    expect(await t.db.ledgerAccount.count({ where: { userId: user.id } })).toBe(1);
  });
});
