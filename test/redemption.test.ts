import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeRedemptionCode } from '../lib/credits/redemption';
import { createApiKeyOp } from '../lib/keys/keys';
import { auditLedger, walletAccountId } from '../lib/ledger';
import type { TestDatabase } from './helpers/db';
import { ADMIN_TOKEN, createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

const harness = gatewayHarness();
let t: TestDatabase;
let gw: TestGateway;
beforeAll(() => {
  ({ t, gw } = harness);
});

async function issue(body: Record<string, unknown>) {
  const response = await fetch(`${gw.url}/api/admin/redemption-codes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as { codes: string[]; batch_id: string; error?: { param: string } } };
}

async function userWithManagementKey() {
  const customer = await createCustomer(t.db, 0n);
  const management = createApiKeyOp(t.db, { userId: customer.user.id, name: 'ops', kind: 'MANAGEMENT' });
  await management.op;
  const redeem = async (code: string) => {
    const response = await fetch(`${gw.url}/api/credits/redeem`, {
      method: 'POST',
      headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const balance = async () => (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } })).balance;
  return { ...customer, redeem, balance };
}

describe('redemption codes', () => {
  it('normalizes what people type', () => {
    expect(normalizeRedemptionCode('tg-abcd-efgh-jkmn')).toBe('TGABCDEFGHJKMN');
    expect(normalizeRedemptionCode(' TG ABCD EFGH JKMO ')).toBe('TGABCDEFGHJKM0');
    expect(normalizeRedemptionCode('TG-ABCD')).toBeNull();
    expect(normalizeRedemptionCode('TG-ABCD-EFGH-JKU!')).toBeNull();
  });

  it('an admin issues a batch (audited, codes shown once); each code credits one wallet, once', async () => {
    const batch = await issue({ count: 3, amount_usd: '5', note: 'conference' });
    expect(batch.status).toBe(201);
    expect(batch.json.codes).toHaveLength(3);
    expect(new Set(batch.json.codes).size).toBe(3);
    const stored = await t.db.redemptionCode.findMany({ where: { batchId: batch.json.batch_id } });
    expect(JSON.stringify(stored, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(batch.json.codes[0]!.slice(3));
    expect(await t.db.auditLog.count({ where: { action: 'redemption.batch', targetId: batch.json.batch_id } })).toBe(1);

    const alice = await userWithManagementKey();
    const bob = await userWithManagementKey();
    const code = batch.json.codes[0]!;
    expect(await alice.redeem(code.toLowerCase())).toMatchObject({ status: 201, json: { credited_usd: 5, balance_usd: 5 } });
    expect(await alice.redeem(code)).toMatchObject({ status: 200, json: { replayed: true, balance_usd: 5 } });
    expect(await bob.redeem(code)).toMatchObject({ status: 409, json: { error: { code: 'code_already_redeemed' } } });
    expect(await alice.balance()).toBe(5_000_000n);
    expect(await bob.balance()).toBe(0n);

    // Credit from a code spends like any other.
    const completion = await gw.client(alice.secret).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    expect(completion.choices[0]?.message.content).toBeTruthy();
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('many users racing for one code: exactly one is credited', async () => {
    const { json } = await issue({ count: 1, amount_usd: '1' });
    const racers = await Promise.all(Array.from({ length: 5 }, () => userWithManagementKey()));
    const results = await Promise.all(racers.flatMap((r) => [r.redeem(json.codes[0]!), r.redeem(json.codes[0]!)]));
    const credited = await Promise.all(racers.map((r) => r.balance()));
    expect(credited.filter((b) => b === 1_000_000n)).toHaveLength(1);
    expect(credited.filter((b) => b === 0n)).toHaveLength(4);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => [200, 201, 409].includes(r.status))).toBe(true);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it.each([
    ['an unknown code', 'TG-0000-0000-0000', 404, 'code_not_found'],
    ['not a code at all', 'hello', 400, 'invalid_code'],
  ])('refuses %s', async (_name, code, status, errorCode) => {
    const user = await userWithManagementKey();
    expect(await user.redeem(code)).toMatchObject({ status, json: { error: { code: errorCode } } });
    expect(await user.balance()).toBe(0n);
  });

  it('refuses an expired code and a bad batch request', async () => {
    const { json } = await issue({ count: 1, amount_usd: '1', expires_in_days: 1 });
    await t.db.redemptionCode.updateMany({ where: { batchId: json.batch_id }, data: { expiresAt: new Date(Date.now() - 1_000) } });
    const user = await userWithManagementKey();
    expect(await user.redeem(json.codes[0]!)).toMatchObject({ status: 400, json: { error: { code: 'code_expired' } } });
    expect(await user.balance()).toBe(0n);
    const bad = await issue({ count: 0, amount_usd: '1' });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.param).toBe('count');
  });
});
