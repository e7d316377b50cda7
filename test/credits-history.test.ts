import { beforeAll, describe, expect, it } from 'vitest';
import { createCreditsHistoryApi } from '../lib/credits/history';
import type { CreditHistoryResponse } from '../lib/credits/history-schema';
import { grantWelcomeCredit } from '../lib/credits/welcome';
import { newId } from '../lib/ids';
import { createApiKeyOp } from '../lib/keys/keys';
import { writeSettleEntries } from '../lib/ledger/settle-entries';
import { Ledger, SYSTEM_ACCOUNTS, walletAccountId } from '../lib/ledger';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { ADMIN_TOKEN, createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

const harness = gatewayHarness();
let t: TestDatabase;
let gw: TestGateway;
let fake: FakeUpstream;
beforeAll(() => {
  ({ t, gw, fake } = harness);
});

const DAY = 86_400_000;

async function customerWithManagementKey() {
  const customer = await createCustomer(t.db, 0n);
  const management = createApiKeyOp(t.db, { userId: customer.user.id, name: 'ops', kind: 'MANAGEMENT' });
  await management.op;
  return { ...customer, management: management.secret };
}

async function history(secret: string, query = '') {
  const api = createCreditsHistoryApi({ db: t.db, env: {} });
  const response = await api.history(new Request(`http://localhost/api/credits/history${query}`, { headers: { authorization: `Bearer ${secret}` } }));
  return { status: response.status, json: (await response.json()) as CreditHistoryResponse & { error?: { code: string; param: string | null; message: string } } };
}

async function postJson(path: string, body: unknown, token: string) {
  const response = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Moves a ledger transaction (and its entries) back by `ms`, as if it had happened then. */
async function backdate(transactionId: string, ms: number) {
  const tx = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { id: transactionId } });
  const at = new Date(tx.createdAt.getTime() - ms);
  await t.db.ledgerTransaction.update({ where: { id: transactionId }, data: { createdAt: at } });
  await t.db.ledgerEntry.updateMany({ where: { transactionId }, data: { createdAt: at } });
}

/** The user's calls' settlements: settled holds on the wallet, each its own posting. */
async function settlementsOf(userId: string) {
  return t.db.hold.findMany({ where: { debitAccountId: walletAccountId(userId), status: 'SETTLED' }, orderBy: { resolvedAt: 'asc' } });
}

describe('GET /api/credits/history', () => {
  it('lists welcome credit, redemption, deposit and pack purchase with receipts and exact running balances, spend per UTC day, and the totals', async () => {
    const alice = await customerWithManagementKey();
    const userId = alice.user.id;

    // $2 welcome credit into its own (playground-only) lot.
    const welcome = await grantWelcomeCredit({ db: t.db, userId, env: { WELCOME_CREDIT_USD: '2' }, clientAddress: '192.0.2.77' });
    expect(welcome.granted).toBe(true);
    // A $5 code, redeemed.
    const batch = await postJson('/api/admin/redemption-codes', { count: 1, amount_usd: '5', note: 'conference' }, ADMIN_TOKEN);
    expect(batch.status).toBe(201);
    expect((await postJson('/api/credits/redeem', { code: (batch.json.codes as string[])[0] }, alice.management)).status).toBe(201);
    // $10 credited by an admin (a bank transfer the operator received).
    const credit = await postJson(`/api/admin/users/${userId}/credit`, { amount_usd: '10', note: 'bank transfer received' }, ADMIN_TOKEN);
    expect(credit.status).toBe(201);
    // A pack: $1 from the wallet buys $1.50 of credit scoped to another model, so calls below pay from the wallet.
    const pack = await t.db.pack.create({ data: { id: newId('pk'), name: 'History pack', description: 'test pack', validityDays: 30, price: 1_000_000n, faceValue: 1_500_000n, scopeModelId: 'deepseek-chat' } });
    expect((await postJson(`/api/packs/${pack.id}/purchase`, {}, alice.management)).status).toBe(201);

    // Three calls, 20 prompt + 100 completion tokens of gpt-4o-mini each: ceil((20 × 0.165 + 100 × 0.66) $/1M) = 70 micro-USD.
    fake.setBehavior({ usage: { prompt_tokens: 20, completion_tokens: 100 }, text: 'ok' });
    for (let i = 0; i < 3; i += 1) {
      await gw.client(alice.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 200 });
    }
    await expect.poll(async () => (await settlementsOf(userId)).length).toBe(3);
    const usage = await t.db.usageRecord.findMany({ where: { userId } });
    expect(usage.map((u) => u.cost)).toEqual([70n, 70n, 70n]);

    // The credits happened three days ago, the first call yesterday, the other two today.
    const credits = await t.db.ledgerTransaction.findMany({
      where: { kind: { in: ['welcome_credit', 'redemption', 'admin_credit', 'pack_purchase'] }, entries: { some: { account: { userId } } } },
      orderBy: { createdAt: 'asc' },
    });
    expect(credits.map((c) => c.kind)).toEqual(['welcome_credit', 'redemption', 'admin_credit', 'pack_purchase']);
    for (const c of credits) await backdate(c.id, 3 * DAY);
    const settles = await settlementsOf(userId);
    await t.db.hold.update({ where: { id: settles[0]!.id }, data: { resolvedAt: new Date(settles[0]!.resolvedAt!.getTime() - DAY) } });
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - DAY).toISOString().slice(0, 10);

    const { status, json } = await history(alice.management);
    expect(status).toBe(200);
    // Newest first; balances by hand: 2, 2+5=7, 7+10=17, 17−1+1.5=17.5, 17.5−0.00007, then −0.00014.
    expect(json.data.map((i) => [i.kind, i.amount_usd, i.balance_after_usd])).toEqual([
      ['spend', '-0.000140', '17.499790'],
      ['spend', '-0.000070', '17.499930'],
      ['pack_purchase', '0.500000', '17.500000'],
      ['deposit', '10.000000', '17.000000'],
      ['redemption', '5.000000', '7.000000'],
      ['welcome', '2.000000', '2.000000'],
    ]);
    const [spendToday, spendYesterday, purchase, deposit, redemption, welcomeItem] = json.data;
    expect(spendToday).toMatchObject({ id: `spend_${today}`, day: today, calls: 2, receipt: null, wallet_change_usd: '-0.000140' });
    expect(spendYesterday).toMatchObject({ id: `spend_${yesterday}`, day: yesterday, calls: 1, receipt: null });
    expect(purchase).toMatchObject({ wallet_change_usd: '-1.000000', pack_change_usd: '1.500000', receipt: { transaction_id: credits[3]!.id, transaction_kind: 'pack_purchase', memo: `History pack (${pack.id})` } });
    expect(deposit).toMatchObject({ label: 'Deposit', amount_display: '$10.00', receipt: { transaction_id: credits[2]!.id, transaction_kind: 'admin_credit', memo: 'Bank transfer received' } });
    expect(redemption).toMatchObject({ receipt: { transaction_id: credits[1]!.id, memo: 'Conference' } });
    expect(welcomeItem).toMatchObject({ label: 'Welcome credit', balance_after_display: '$2.00', receipt: { transaction_id: credits[0]!.id, transaction_kind: 'welcome_credit' } });

    // Totals are the ledger's balances: wallet 5 + 10 − 1 − 0.00021; lots 2 (welcome) + 1.5 (pack).
    expect(json.totals).toMatchObject({ wallet_usd: '13.999790', pack_credit_usd: '3.500000', total_usd: '17.499790', total_display: '$17.49979' });
    const accounts = await t.db.ledgerAccount.findMany({ where: { userId } });
    expect(accounts.reduce((sum, a) => sum + a.balance, 0n)).toBe(17_499_790n);
    expect(accounts.find((a) => a.id === walletAccountId(userId))!.balance).toBe(13_999_790n);

    // The chart ends today at the total and shows the day before the credits at zero.
    expect(json.chart).toHaveLength(30);
    expect(json.chart.at(-1)).toEqual({ day: today, balance_usd: '17.499790' });
    expect(json.chart.at(-2)).toEqual({ day: yesterday, balance_usd: '17.499930' });
    expect(json.chart.at(-5)).toEqual({ day: new Date(Date.now() - 4 * DAY).toISOString().slice(0, 10), balance_usd: '0.000000' });

    // Pages of two, by cursor, add up to the whole history.
    const first = await history(alice.management, '?limit=2');
    expect(first.json.data.map((i) => i.id)).toEqual([spendToday!.id, spendYesterday!.id]);
    expect(first.json.next_cursor).toBe(spendYesterday!.id);
    const second = await history(alice.management, `?limit=2&cursor=${encodeURIComponent(first.json.next_cursor!)}`);
    expect(second.json.data.map((i) => i.id)).toEqual([purchase!.id, deposit!.id]);
    const third = await history(alice.management, `?limit=2&cursor=${encodeURIComponent(second.json.next_cursor!)}`);
    expect(third.json.data.map((i) => i.id)).toEqual([redemption!.id, welcomeItem!.id]);
    expect(third.json.next_cursor).toBeNull();

    // Another user sees none of it.
    const bob = await customerWithManagementKey();
    const theirs = await history(bob.management);
    expect(theirs.status).toBe(200);
    expect(theirs.json.data).toEqual([]);
    expect(theirs.json.totals.total_usd).toBe('0.000000');
    // Alice's cursor means nothing in Bob's history.
    expect((await history(bob.management, `?cursor=${encodeURIComponent(purchase!.id)}`)).status).toBe(400);
  });

  it("sums a day's spend from settled holds and from settle transactions (holds settled before holds posted themselves), each call once", async () => {
    const dave = await customerWithManagementKey();
    const wallet = walletAccountId(dave.user.id);
    expect((await postJson(`/api/admin/users/${dave.user.id}/credit`, { amount_usd: '1', note: 'test' }, ADMIN_TOKEN)).status).toBe(201);
    fake.setBehavior({ usage: { prompt_tokens: 20, completion_tokens: 100 }, text: 'ok' });
    await gw.client(dave.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 200 });
    await expect.poll(async () => (await settlementsOf(dave.user.id)).length).toBe(1);
    // A settlement as every one was written before: a settle transaction of two entries, 30 micro-USD.
    const txn = newId('txn');
    const now = new Date();
    await t.db.$transaction([
      t.db.ledgerTransaction.create({ data: { id: txn, idempotencyKey: `settle:legacy-${dave.user.id}`, kind: 'settle', createdAt: now } }),
      t.db.ledgerEntry.createMany({ data: [
        { id: newId('ent'), transactionId: txn, accountId: wallet, amount: -30n, createdAt: now },
        { id: newId('ent'), transactionId: txn, accountId: SYSTEM_ACCOUNTS.revenue.id, amount: 30n, createdAt: now },
      ] }),
    ]);

    const { json } = await history(dave.management);
    // $1, less the call's 70 micro-USD (20 × 0.165 + 100 × 0.66 per million, rounded up) and the 30.
    expect(json.data.map((i) => [i.kind, i.amount_usd, i.balance_after_usd, i.calls])).toEqual([
      ['spend', '-0.000100', '0.999900', 2],
      ['deposit', '1.000000', '1.000000', null],
    ]);
    // The call's hold recorded the older way as well (its own settle transaction): counted once.
    await writeSettleEntries(t.db);
    expect((await t.db.hold.findFirstOrThrow({ where: { debitAccountId: wallet, status: 'SETTLED' } })).transactionId).not.toBeNull();
    expect((await history(dave.management)).json.data).toEqual(json.data);
  });

  it('counts a call paid by a pack lot and the wallet together as one call', async () => {
    const erin = await customerWithManagementKey();
    const wallet = walletAccountId(erin.user.id);
    expect((await postJson(`/api/admin/users/${erin.user.id}/credit`, { amount_usd: '1', note: 'test' }, ADMIN_TOKEN)).status).toBe(201);
    const pack = await t.db.pack.create({ data: { id: newId('pk'), name: 'Small pack', description: 'test pack', validityDays: 30, price: 100n, faceValue: 100n } });
    expect((await postJson(`/api/packs/${pack.id}/purchase`, {}, erin.management)).status).toBe(201);
    const lot = await t.db.packLot.findFirstOrThrow({ where: { userId: erin.user.id } });
    // One call's two holds: the lot's 100 first, then 60 from the wallet.
    const ledger = new Ledger(t.db);
    const { holds } = await ledger.reserve({ idempotencyKey: `two-${erin.user.id}`, sources: [lot.accountId, wallet], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 500n, ttlMs: 60_000 });
    await ledger.settle({ holds, amount: 160n, idempotencyKey: `two-s-${erin.user.id}` });

    const [spend] = (await history(erin.management)).json.data;
    expect(spend).toMatchObject({ kind: 'spend', calls: 1, amount_usd: '-0.000160', wallet_change_usd: '-0.000060', pack_change_usd: '-0.000100' });
    // Recorded as before holds posted themselves, a settle transaction for each of the two holds: still one call.
    expect(await writeSettleEntries(t.db)).toBeGreaterThanOrEqual(2);
    expect(await t.db.hold.count({ where: { groupId: `two-${erin.user.id}`, transactionId: null } })).toBe(0);
    expect((await history(erin.management)).json.data[0]).toEqual(spend);
  });

  it('refuses bad query parameters with a 400 naming them, and callers without credentials', async () => {
    const carol = await customerWithManagementKey();
    const unknown = await history(carol.management, '?limit=10&page=2');
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ code: 'unknown_parameter', param: 'page' });
    const tooMany = await history(carol.management, '?limit=101');
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error?.param).toBe('limit');
    expect((await history(carol.management, '?limit=zero')).json.error?.param).toBe('limit');
    expect((await history(carol.management, '?cursor=nope')).json.error?.param).toBe('cursor');
    // An inference key is not a management key.
    expect((await history(carol.secret)).status).toBe(403);
    const anonymous = await createCreditsHistoryApi({ db: t.db, env: {} }).history(new Request('http://localhost/api/credits/history'));
    expect(anonymous.status).toBe(401);
  });
});
