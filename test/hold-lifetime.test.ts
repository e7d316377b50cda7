import { beforeAll, describe, expect, it } from 'vitest';
import { walletAccountId } from '../lib/ledger';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

// A hold outlives its HOLD_TTL_MS while its call is in progress (lib/gateway/call.ts): a stream
// several times longer than the TTL, with the sweeper running all along, is still charged in full.
const TTL_MS = 300;
const harness = gatewayHarness({ HOLD_TTL_MS: String(TTL_MS), LOCAL_MODEL_TOKEN_DELAY_MS: '60' });
let t: TestDatabase;
let gw: TestGateway;
beforeAll(() => {
  ({ t, gw } = harness);
});

describe('a call longer than the hold TTL', () => {
  it('keeps its hold through a stream several TTLs long, with the sweeper running, and is charged in full', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const ledger = gw.gateway.ctx.ledger;
    let swept = 0;
    let sweeping = true;
    const sweeper = (async () => {
      while (sweeping) {
        swept += await ledger.releaseExpiredHolds();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    const started = performance.now();
    const response = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Tell me about the weather in five words please.' }], stream: true, stream_options: { include_usage: true }, max_tokens: 200 }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const elapsed = performance.now() - started;
    sweeping = false;
    await sweeper;
    // Only meaningful if the stream did outlive its hold's TTL several times over.
    expect(elapsed).toBeGreaterThan(3 * TTL_MS);
    expect(text).toContain('data: [DONE]');

    const usage = await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } });
    expect(usage.status).toBe('SUCCESS');
    expect(usage.completionTokens).toBeGreaterThan(0);
    expect(usage.cost).toBeGreaterThan(0n);
    const hold = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(customer.user.id) } });
    expect(hold).toMatchObject({ status: 'SETTLED', settledAmount: usage.cost });
    const wallet = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } });
    expect(wallet).toMatchObject({ balance: 1_000_000n - usage.cost, available: 1_000_000n - usage.cost });
    expect(swept).toBe(0);
  });

  it('a hold whose call died (nothing extends it any more) is still swept after the TTL', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const ledger = gw.gateway.ctx.ledger;
    // A reservation whose call never settles (its process died): nothing extends it.
    const { holds } = await ledger.reserve({ idempotencyKey: `dead-${customer.keyId}`, sources: [walletAccountId(customer.user.id)], creditAccountId: 'acc_system_revenue', amount: 5_000n, ttlMs: TTL_MS });
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 50));
    expect(await ledger.releaseExpiredHolds()).toBeGreaterThanOrEqual(1);
    expect((await t.db.hold.findUniqueOrThrow({ where: { id: holds[0]!.id } })).status).toBe('EXPIRED');
  });
});
