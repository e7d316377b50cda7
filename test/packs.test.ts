import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyOp } from '../lib/keys/keys';
import { Ledger, SYSTEM_ACCOUNTS, auditLedger, walletAccountId } from '../lib/ledger';
import { newId } from '../lib/ids';
import { expirePackLots } from '../lib/packs/packs';
import type { TestDatabase } from './helpers/db';
import { ADMIN_TOKEN, createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

// Packs: bought with the wallet in one ledger transaction, drawn down before the wallet (most
// specific scope, then earliest expiry), expiring through the ledger, and "packs only" keys.

const harness = gatewayHarness();
let t: TestDatabase;
let gw: TestGateway;
beforeAll(() => {
  ({ t, gw } = harness);
});

type PackBilling = { id: string; status: string; remaining_usd: number; remaining_tokens_est: number };
type Billed = { billing: { charged_usd: number; balance_usd: number | null; pack?: PackBilling }; usage: { cost: number } };
type LotJson = { id: string; pack_id: string; remaining_usd: number; face_value_usd: number; status: string; scope: { provider: string | null; model: string | null }; expires_at: string };

const micros = (usd: number) => BigInt(Math.round(usd * 1e6));

/** A pack of our own for a test, so amounts can be as small as a test needs. */
async function createPack(p: { price: bigint; faceValue: bigint; validityDays?: number; scopeModelId?: string; scopeProviderId?: string }) {
  return t.db.pack.create({
    data: { id: newId('pk'), name: `Test ${p.faceValue}`, description: 'test pack', validityDays: 30, ...p },
  });
}

/** A customer with a wallet, an inference key and a management key for the account API. */
async function buyer(balance: bigint, key: { packsOnly?: boolean } = {}) {
  const customer = await createCustomer(t.db, balance, key);
  const management = createApiKeyOp(t.db, { userId: customer.user.id, name: 'ops', kind: 'MANAGEMENT' });
  await management.op;
  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${gw.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const buy = (packId: string, idempotencyKey?: string) => api(`/api/packs/${packId}/purchase`, { method: 'POST', body: '{}', headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });
  const lots = async () => (await api('/api/lots')).json.data as LotJson[];
  const wallet = async () => t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } });
  const chat = async (maxTokens = 50) =>
    (await gw.client(customer.secret).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Tell me about packs' }], max_tokens: maxTokens })) as unknown as Billed;
  return { ...customer, managementSecret: management.secret, api, buy, lots, wallet, chat };
}

describe('pack shop', () => {
  it('lists the active packs with price, face value, discount, validity and scope, without signing in', async () => {
    const response = await fetch(`${gw.url}/api/packs`);
    expect(response.status).toBe(200);
    const { data } = (await response.json()) as { data: Array<Record<string, unknown>> };
    expect(data.find((p) => p.id === 'pk_claude_sonnet_100')).toMatchObject({
      price_usd: 100,
      face_value_usd: 125,
      discount_percent: 20,
      validity_days: 90,
      scope: { provider: null, model: 'claude-sonnet-4-5' },
    });
    expect(data.find((p) => p.id === 'pk_gemini_25')).toMatchObject({ scope: { provider: 'google', model: null } });
  });

  it('buying debits the price and creates a lot with the face value, in one balanced transaction; a retry with the same key buys once', async () => {
    const b = await buyer(micros(10));
    const first = await b.buy('pk_local_2', 'buy-1');
    expect(first.status).toBe(201);
    const lot = (first.json as { lot: LotJson }).lot;
    expect(lot).toMatchObject({ pack_id: 'pk_local_2', face_value_usd: 5, remaining_usd: 5, status: 'ACTIVE', scope: { provider: null, model: 'tollgate-local' } });
    expect(new Date(lot.expires_at).getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(first.json.balance_usd).toBe(8);

    const again = await b.buy('pk_local_2', 'buy-1');
    expect(again).toMatchObject({ status: 200, json: { replayed: true, lot: { id: lot.id } } });
    expect((await b.wallet()).balance).toBe(micros(8));
    expect(await b.lots()).toHaveLength(1);
    // The $3 discount came from the promo account, not from nowhere.
    const purchase = await t.db.ledgerTransaction.findFirstOrThrow({ where: { kind: 'pack_purchase', entries: { some: { accountId: walletAccountId(b.user.id) } } }, include: { entries: true } });
    expect(purchase.entries.find((e) => e.accountId === SYSTEM_ACCOUNTS.promo.id)?.amount).toBe(-micros(3));
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it.each([
    { name: 'a wallet short of the price', balance: micros(1), pack: 'pk_local_2', status: 402, code: 'insufficient_credits' },
    { name: 'an unknown pack', balance: micros(10), pack: 'pk_nope', status: 404, code: 'pack_not_found' },
  ])('refuses $name and writes nothing', async ({ balance, pack, status, code }) => {
    const b = await buyer(balance);
    const accountsBefore = await t.db.ledgerAccount.count();
    const response = await b.buy(pack);
    expect(response).toMatchObject({ status, json: { error: { code } } });
    expect(await t.db.ledgerAccount.count()).toBe(accountsBefore);
    expect(await t.db.packLot.count({ where: { userId: b.user.id } })).toBe(0);
    expect((await b.wallet()).balance).toBe(balance);
  });

  it('a user sees only their own lots, and buying needs an account credential', async () => {
    const alice = await buyer(micros(10));
    const bob = await buyer(micros(10));
    await alice.buy('pk_local_2');
    expect(await alice.lots()).toHaveLength(1);
    expect(await bob.lots()).toHaveLength(0);
    const anonymous = await fetch(`${gw.url}/api/packs/pk_local_2/purchase`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
    // An inference key is not an account credential either.
    const withInferenceKey = await fetch(`${gw.url}/api/lots`, { headers: { authorization: `Bearer ${alice.secret}` } });
    expect(withInferenceKey.status).toBe(403);
  });
});

describe('draw-down', () => {
  it('a model-scoped lot pays before a general one, and the wallet is untouched', async () => {
    const general = await createPack({ price: micros(1), faceValue: micros(2) });
    const b = await buyer(micros(10));
    await b.buy(general.id);
    await b.buy('pk_local_2');
    const walletBefore = (await b.wallet()).balance;
    const reply = await b.chat();
    const lots = await b.lots();
    const local = lots.find((l) => l.pack_id === 'pk_local_2')!;
    expect(reply.billing.pack).toMatchObject({ id: local.id, status: 'ACTIVE' });
    expect(local.remaining_usd).toBeCloseTo(5 - reply.usage.cost, 6);
    expect(lots.find((l) => l.pack_id === general.id)!.remaining_usd).toBe(2);
    expect((await b.wallet()).balance).toBe(walletBefore);
    // The estimate of what is left, in output tokens of the model that served.
    expect(reply.billing.pack!.remaining_tokens_est).toBe(Math.floor((micros(local.remaining_usd) * 1_000_000n) / 440_000n > 0n ? Number((micros(local.remaining_usd) * 1_000_000n) / 440_000n) : 0));
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('among lots equally specific, the one expiring first pays first', async () => {
    const later = await createPack({ price: micros(1), faceValue: micros(1), validityDays: 60 });
    const sooner = await createPack({ price: micros(1), faceValue: micros(1), validityDays: 10 });
    const b = await buyer(micros(5));
    await b.buy(later.id);
    await b.buy(sooner.id);
    const reply = await b.chat();
    const lots = await b.lots();
    expect(reply.billing.pack!.id).toBe(lots.find((l) => l.pack_id === sooner.id)!.id);
    expect(lots.find((l) => l.pack_id === later.id)!.remaining_usd).toBe(1);
  });

  it('a lot for another provider or model never pays', async () => {
    const b = await buyer(micros(40));
    await b.buy('pk_gemini_25');
    const reply = await b.chat();
    expect(reply.billing.pack).toBeUndefined();
    expect(reply.billing.balance_usd).toBeCloseTo(15 - reply.usage.cost, 6);
    expect((await b.lots())[0]!.remaining_usd).toBe(30);
  });

  it('a lot smaller than the call pays what it has, the wallet the rest; the empty lot is EXHAUSTED', async () => {
    const tiny = await createPack({ price: 2n, faceValue: 3n, scopeModelId: 'tollgate-local' });
    const b = await buyer(micros(1));
    await b.buy(tiny.id);
    const walletBefore = (await b.wallet()).balance;
    const reply = await b.chat();
    const cost = micros(reply.usage.cost);
    expect(cost).toBeGreaterThan(3n);
    expect(reply.billing.pack).toMatchObject({ status: 'EXHAUSTED', remaining_usd: 0, remaining_tokens_est: 0 });
    expect((await b.wallet()).balance).toBe(walletBefore - (cost - 3n));
    expect(reply.billing.balance_usd).toBeCloseTo(Number(walletBefore - (cost - 3n)) / 1e6, 6);
    expect(await b.lots()).toMatchObject([{ status: 'EXHAUSTED', remaining_usd: 0 }]);
    // Both holds resolved: the lot's settled for 3, the wallet's for the rest.
    const holds = await t.db.hold.findMany({ where: { groupId: { not: null }, debitAccount: { userId: b.user.id } }, orderBy: { idempotencyKey: 'asc' } });
    expect(holds.map((h) => [h.status, h.settledAmount])).toEqual([
      ['SETTLED', 3n],
      ['SETTLED', cost - 3n],
    ]);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('an upstream failure after a lot and the wallet were both held releases every hold of the group and charges nothing', async () => {
    const b = await buyer(micros(1));
    // A lot of 10 micro-USD for gpt-4o-mini, smaller than the call's hold: the lot and the wallet hold together.
    const pack = await createPack({ price: 1n, faceValue: 10n, scopeModelId: 'gpt-4o-mini' });
    await b.buy(pack.id);
    const before = { wallet: (await b.wallet()).balance, lots: await b.lots() };
    harness.fake.setBehavior({ failStatus: 500 });
    try {
      const error = (await gw
        .client(b.secret)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fail me' }], max_tokens: 100 })
        .catch((e: unknown) => e)) as { status?: number };
      expect(error.status).toBe(502);
    } finally {
      harness.fake.reset();
    }
    // Both holds were made, and both released.
    const holds = await t.db.hold.findMany({ where: { quotaKeyId: b.keyId }, select: { debitAccountId: true, status: true } });
    expect(holds.map((h) => h.status)).toEqual(['RELEASED', 'RELEASED']);
    const [lot] = before.lots;
    const lotAccount = (await t.db.packLot.findUniqueOrThrow({ where: { id: lot!.id } })).accountId;
    expect(holds.map((h) => h.debitAccountId).sort()).toEqual([lotAccount, walletAccountId(b.user.id)].sort());
    expect((await b.wallet()).balance).toBe(before.wallet);
    expect(await b.lots()).toEqual(before.lots);
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: b.keyId } })).toMatchObject({ status: 'UPSTREAM_ERROR', cost: 0n });
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('parallel calls drawing a lot and a wallet down together never overdraw either', async () => {
    const pack = await createPack({ price: 10n, faceValue: 200n, scopeModelId: 'tollgate-local' });
    const b = await buyer(400n);
    await b.buy(pack.id);
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => b.chat(200)));
    const served = results.filter((r) => r.status === 'fulfilled').length;
    // Lot and wallet together (200 + 390) admit at least as many calls as they hold holds.
    const holds = await t.db.hold.findMany({ where: { quotaKeyId: b.keyId }, select: { idempotencyKey: true, amount: true } });
    const perCall = new Map<string, bigint>();
    for (const h of holds) perCall.set(h.idempotencyKey.split(':').slice(0, 2).join(':'), (perCall.get(h.idempotencyKey.split(':').slice(0, 2).join(':')) ?? 0n) + h.amount);
    const hold = [...perCall.values()][0]!;
    expect(590n / hold).toBeGreaterThan(1n);
    expect(served).toBeGreaterThanOrEqual(Number(590n / hold));
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r.reason as { status?: number }).status === 402)).toBe(true);
    const wallet = await b.wallet();
    expect(wallet.balance).toBeGreaterThanOrEqual(0n);
    expect(wallet.available).toBe(wallet.balance);
    const [lot] = await b.lots();
    expect(lot!.remaining_usd).toBeGreaterThanOrEqual(0);
    // Exactly what the served calls were charged left the lot and the wallet together.
    const charged = results.reduce((sum, r) => sum + (r.status === 'fulfilled' ? micros(r.value.billing.charged_usd) : 0n), 0n);
    expect(200n + (400n - 10n) - micros(lot!.remaining_usd) - wallet.balance).toBe(charged);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('packs only', () => {
  it.each([
    { name: 'no pack at all', setup: async () => undefined, code: 'no_active_pack' },
    { name: 'only a pack for another model', setup: async (b: Awaited<ReturnType<typeof buyer>>) => void (await b.buy('pk_gemini_25')), code: 'no_active_pack' },
    {
      name: 'a matching pack too small for the call',
      setup: async (b: Awaited<ReturnType<typeof buyer>>) => void (await b.buy((await createPack({ price: 1n, faceValue: 2n, scopeModelId: 'tollgate-local' })).id)),
      code: 'insufficient_credits',
    },
  ])('refuses with 402 when there is $name, and the wallet pays nothing', async ({ setup, code }) => {
    const b = await buyer(micros(40), { packsOnly: true });
    await setup(b);
    const walletBefore = (await b.wallet()).balance;
    await expect(b.chat()).rejects.toMatchObject({ status: 402, code });
    expect((await b.wallet()).balance).toBe(walletBefore);
    expect((await b.wallet()).available).toBe(walletBefore);
  });

  it('spends the pack and never the wallet', async () => {
    const b = await buyer(micros(10), { packsOnly: true });
    await b.buy('pk_local_2');
    const walletBefore = (await b.wallet()).balance;
    const reply = await b.chat();
    expect(reply.billing.pack?.status).toBe('ACTIVE');
    expect((await b.wallet()).balance).toBe(walletBefore);
  });
});

describe('expiry', () => {
  it('an expiry sweep racing calls that draw the lot: no overdraft, and what the calls did not draw is all that expires', async () => {
    const b = await buyer(micros(10));
    await b.buy('pk_local_2');
    const [lot] = await b.lots();
    const { accountId, faceValue } = await t.db.packLot.findUniqueOrThrow({ where: { id: lot!.id } });
    const ledger = new Ledger(t.db);
    const calls = Promise.allSettled(Array.from({ length: 12 }, () => b.chat(200)));
    // The lot expires while the calls are being reserved and settled; sweeps run meanwhile.
    await t.db.packLot.update({ where: { id: lot!.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    await Promise.all(Array.from({ length: 6 }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 15));
      return expirePackLots({ db: t.db, ledger });
    }));
    const results = await calls;
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    // Once nothing is in flight, a last sweep expires it if the racing ones could not.
    await expirePackLots({ db: t.db, ledger });
    const account = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: accountId } });
    expect(account).toMatchObject({ balance: 0n, available: 0n });
    expect((await t.db.packLot.findUniqueOrThrow({ where: { id: lot!.id } })).status).toBe('EXPIRED');
    // Every micro-dollar of the lot went to a call's settlement or to breakage, once.
    const drawn = await t.db.ledgerEntry.aggregate({ where: { accountId, transaction: { kind: 'settle' } }, _sum: { amount: true } });
    const expiry = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { idempotencyKey: `lot-expiry:${lot!.id}` }, include: { entries: true } });
    const toBreakage = expiry.entries.find((e) => e.accountId === SYSTEM_ACCOUNTS.breakage.id)?.amount ?? 0n;
    expect(-(drawn._sum.amount ?? 0n) + toBreakage).toBe(faceValue);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it("an expired lot's remainder leaves the balance through a ledger entry, and it pays no more calls", async () => {
    const b = await buyer(micros(10));
    await b.buy('pk_local_2');
    const [lot] = await b.lots();
    await t.db.packLot.update({ where: { id: lot!.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const ledger = new Ledger(t.db);
    expect(await expirePackLots({ db: t.db, ledger })).toBeGreaterThanOrEqual(1);
    expect(await b.lots()).toMatchObject([{ status: 'EXPIRED', remaining_usd: 0 }]);
    const expiry = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { idempotencyKey: `lot-expiry:${lot!.id}` }, include: { entries: true } });
    expect(expiry.entries.find((e) => e.accountId === SYSTEM_ACCOUNTS.breakage.id)?.amount).toBe(micros(5));
    // Sweeping again changes nothing.
    expect(await expirePackLots({ db: t.db, ledger })).toBe(0);
    const reply = await b.chat();
    expect(reply.billing.pack).toBeUndefined();
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a lot with a call in flight expires only after the call settles', async () => {
    const b = await buyer(micros(10));
    await b.buy('pk_local_2');
    const [lot] = await b.lots();
    const row = await t.db.packLot.findUniqueOrThrow({ where: { id: lot!.id } });
    const ledger = new Ledger(t.db);
    const { holds } = await ledger.reserve({ idempotencyKey: `test:${row.id}`, sources: [row.accountId], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 1000n, ttlMs: 60_000 });
    expect(holds).toMatchObject([{ debitAccountId: row.accountId, amount: 1000n }]);
    await t.db.packLot.update({ where: { id: row.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await expirePackLots({ db: t.db, ledger })).toBe(0);
    expect(await b.lots()).toMatchObject([{ id: row.id, remaining_usd: 5 }]);
    await ledger.settle({ holds, amount: 400n, idempotencyKey: `test-settle:${row.id}` });
    expect(await expirePackLots({ db: t.db, ledger })).toBe(1);
    const expiry = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { idempotencyKey: `lot-expiry:${row.id}` }, include: { entries: true } });
    expect(expiry.entries.find((e) => e.accountId === SYSTEM_ACCOUNTS.breakage.id)?.amount).toBe(micros(5) - 400n);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('admin pack catalog', () => {
  const admin = (path: string, method: string, body?: unknown, token = ADMIN_TOKEN) =>
    fetch(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then(
      async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> & { error?: { code: string; param: string | null } } }),
    );

  it('creates a pack, changes it and takes it off sale; each change audited; lots keep their terms', async () => {
    const created = await admin('/api/admin/packs', 'POST', { name: 'Haiku 10', price_usd: '8', face_value_usd: '10', validity_days: 30, scope: { model: 'claude-haiku-4-5' } });
    expect(created).toMatchObject({ status: 201, json: { name: 'Haiku 10', price_usd: 8, face_value_usd: 10, discount_percent: 20, scope: { provider: null, model: 'claude-haiku-4-5' }, active: true } });
    const id = created.json.id as string;
    const shop = async () => ((await (await fetch(`${gw.url}/api/packs`)).json()) as { data: Array<{ id: string; price_usd: number }> }).data;
    expect((await shop()).find((p) => p.id === id)).toBeTruthy();

    const b = await buyer(micros(20));
    await b.buy(id);
    expect(await admin(`/api/admin/packs/${id}`, 'PATCH', { price_usd: '9.5', active: false })).toMatchObject({ status: 200, json: { price_usd: 9.5, active: false } });
    expect((await shop()).find((p) => p.id === id)).toBeUndefined();
    expect((await b.buy(id)).status).toBe(404);
    expect(await b.lots()).toMatchObject([{ pack_id: id, face_value_usd: 10, remaining_usd: 10 }]);
    expect(await t.db.auditLog.count({ where: { targetType: 'pack', targetId: id } })).toBe(2);
  });

  it.each([
    { name: 'face value below price', body: { name: 'Bad', price_usd: '10', face_value_usd: '9', validity_days: 30 }, param: 'face_value_usd' },
    { name: 'an unknown model scope', body: { name: 'Bad', price_usd: '1', face_value_usd: '1', validity_days: 30, scope: { model: 'gpt-17' } }, param: 'scope.model' },
    { name: 'a float-ish price', body: { name: 'Bad', price_usd: '0.0000001', face_value_usd: '1', validity_days: 30 }, param: 'price_usd' },
    { name: 'no validity', body: { name: 'Bad', price_usd: '1', face_value_usd: '1' }, param: 'validity_days' },
  ])('refuses $name with a 400 naming the field, and writes nothing', async ({ body, param }) => {
    const before = await t.db.pack.count();
    const response = await admin('/api/admin/packs', 'POST', body);
    expect(response.status).toBe(400);
    expect(response.json.error?.param).toBe(param);
    expect(await t.db.pack.count()).toBe(before);
  });

  it('is closed to anyone without the admin credential', async () => {
    expect((await admin('/api/admin/packs', 'POST', { name: 'x', price_usd: '1', face_value_usd: '1', validity_days: 1 }, 'not-the-token')).status).toBe(401);
  });
});
