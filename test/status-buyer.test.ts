// /status for buyers: plain words without setting names, and a last-checked time from the probes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderProbe } from '../lib/providers/health';
import { collectStatus, type StatusItem } from '../lib/status';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

const byId = (items: StatusItem[]) => Object.fromEntries(items.map((item) => [item.id, item]));
// An environment variable's shape: SOME_NAME (two or more capitalised words joined by underscores).
const ENV_NAME = /\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/;
const checkedAt = new Date('2026-12-02T12:00:00Z');
const probeWith = (outcome: ProviderProbe['outcome']) => async (provider: ProviderProbe['provider']): Promise<ProviderProbe> => ({ provider, outcome, checkedAt, latencyMs: 12, reason: outcome === 'down' ? 'ECONNREFUSED' : outcome === 'error' ? 'HTTP 503' : null });

describe('status for buyers', () => {
  it('lists Stripe Connect seller payouts as needing the operator, and USDC payouts by their configuration', async () => {
    const key = `0x${'11'.repeat(32)}`;
    const off = byId(await collectStatus({ db: t.db, env: {}, probe: probeWith('up') }));
    expect(off['seller-payouts:stripe-connect']).toMatchObject({ group: 'Seller payouts', state: 'operator_action' });
    expect(off['seller-payouts:stripe-connect']!.summary).toMatch(/bank account.*not available yet/);
    expect(off['seller-payouts:usdc']!.state).toBe('disabled');
    const half = byId(await collectStatus({ db: t.db, env: { SELLER_PAYOUT_NETWORK: 'base', SELLER_PAYOUT_PRIVATE_KEY: key }, probe: probeWith('up') }));
    expect(half['seller-payouts:usdc']!.state).toBe('operator_action');
    expect(half['seller-payouts:usdc']!.detail).toContain('RPC_URL_BASE');
    const on = byId(await collectStatus({ db: t.db, env: { SELLER_PAYOUT_NETWORK: 'base', SELLER_PAYOUT_PRIVATE_KEY: key, RPC_URL_BASE: 'http://127.0.0.1:9/' }, probe: probeWith('up') }));
    expect(on['seller-payouts:usdc']!.state).toBe('live');
    expect(on['seller-payouts:usdc']!.summary).toBe('Sellers are paid weekly in USDC on Base, to the wallet linked to their account.');
    expect(on['seller-payouts:usdc']!.detail).not.toContain(key.slice(2));
  });

  it('no summary names a setting, on a fresh instance or a half-configured one; the operator detail still does', async () => {
    const configs = [
      {},
      { TREASURY_ADDRESS: '0x000000000000000000000000000000000000dEaD', RPC_URL_POLYGON: 'http://127.0.0.1:9/', WALLET_BUDGET_NETWORK: 'base', WALLET_BUDGET_TOKEN: 'USDC', OPENAI_API_KEY: 'sk-test' },
      { TREASURY_ADDRESS: 'not-an-address', SESSION_ESCROW: '0x1', X402_PAY_TO: 'nope', SELLER_PAYOUT_NETWORK: 'base' },
    ];
    for (const env of configs) {
      const items = await collectStatus({ db: t.db, env, probeTimeoutMs: 500, probe: probeWith('up') });
      for (const item of items) expect(item.summary, `${item.id}: ${item.summary}`).not.toMatch(ENV_NAME);
      expect(items.some((item) => ENV_NAME.test(item.detail))).toBe(true);
    }
  });

  it('a provider line carries the probe time and follows its outcome; providers without a key are not probed', async () => {
    const probed: string[] = [];
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'https://user:secret@api.example.com/v1?key=hidden' };
    const up = byId(await collectStatus({ db: t.db, env, probe: async (provider) => (probed.push(provider), probeWith('up')(provider)) }));
    expect(probed.sort()).toEqual(['local', 'openai']);
    // A credential-less GET proves the host answers, nothing more: the line says so and claims no more.
    expect(up['provider:openai']).toMatchObject({ state: 'live', summary: 'Reachable: OpenAI answered the last check.', checkedAt: checkedAt.toISOString() });
    expect(up['provider:openai']!.summary).not.toMatch(/serv|work|available/i);
    expect(up['provider:openai']!.detail).toContain('api.example.com');
    expect(JSON.stringify(up['provider:openai'])).not.toMatch(/secret|hidden/);
    expect(up['provider:anthropic']).toMatchObject({ state: 'operator_action', checkedAt: null });

    const down = byId(await collectStatus({ db: t.db, env, probe: probeWith('down') }));
    expect(down['provider:openai']).toMatchObject({ state: 'third_party', checkedAt: checkedAt.toISOString() });
    expect(down['provider:openai']!.summary).toMatch(/cannot be reached/);
    // Why, for the operator only.
    expect(down['provider:openai']!.detail).toBe('Probe could not reach api.example.com (ECONNREFUSED).');
    expect(down['provider:openai']!.summary).not.toContain('ECONNREFUSED');
    const failing = byId(await collectStatus({ db: t.db, env, probe: probeWith('error') }));
    expect(failing['provider:openai']).toMatchObject({ state: 'third_party' });
    expect(failing['provider:openai']!.summary).toMatch(/errors/);
    expect(failing['provider:openai']!.detail).toContain('(HTTP 503)');
  });

  it('a base URL without a scheme marks that provider misconfigured, and only that one', async () => {
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'api.x.com/v1', DEEPSEEK_API_KEY: 'sk-ds', DEEPSEEK_BASE_URL: 'https://api.deepseek.example/v1' };
    const items = await collectStatus({ db: t.db, env, probe: probeWith('up') });
    const lines = byId(items);
    expect(lines['provider:openai']).toMatchObject({ state: 'operator_action', group: 'Model providers' });
    expect(lines['provider:openai']!.summary).toMatch(/until the operator corrects its settings/);
    expect(lines['provider:openai']!.summary).not.toMatch(ENV_NAME);
    expect(lines['provider:openai']!.detail).toBe('OPENAI_BASE_URL is not an absolute URL (it must start with https:// or http://).');
    // The other providers keep their own lines; no catch-all "this check failed" line.
    expect(lines['provider:deepseek']).toMatchObject({ state: 'live' });
    expect(lines['provider:local']).toMatchObject({ state: 'live' });
    expect(lines['provider:anthropic']).toMatchObject({ state: 'operator_action', summary: 'Not set up on this instance: its models cannot be used here yet.' });
    expect(items.filter((line) => line.group === 'Other')).toEqual([]);

    // A probe that throws for one provider takes only that provider's line with it.
    const throwing = byId(
      await collectStatus({
        db: t.db,
        env: { ...env, OPENAI_BASE_URL: 'https://api.openai.example/v1' },
        probe: async (provider) => {
          if (provider === 'deepseek') throw new Error('probe exploded');
          return probeWith('up')(provider);
        },
      }),
    );
    expect(throwing['provider:deepseek']).toMatchObject({ state: 'operator_action', detail: 'The check failed: probe exploded' });
    expect(throwing['provider:openai']).toMatchObject({ state: 'live' });
  });

  it('by default the built-in model is probed for real', async () => {
    const items = byId(await collectStatus({ db: t.db, env: {} }));
    expect(items['provider:local']).toMatchObject({ state: 'live' });
    expect(Date.now() - Date.parse(items['provider:local']!.checkedAt!)).toBeLessThan(60_000);
  });
});
