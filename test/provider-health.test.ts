// The /status health probes: free, credential-less, cached, and honest about what they saw.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProbeCache, probeProvider } from '../lib/providers/health';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';

let upstream: FakeUpstream;
// A stand-in for a provider in trouble: 503 on /broken, no answer at all on /hang; it records headers.
let trouble: Server;
let troubleUrl: string;
const seenHeaders: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  upstream = await startFakeUpstream();
  trouble = createServer((req, res) => {
    seenHeaders.push(req.headers);
    if (req.url?.startsWith('/broken')) {
      res.writeHead(503).end('down for maintenance');
      return;
    }
    if (req.url?.startsWith('/hang')) return; // never answers
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => trouble.listen(0, '127.0.0.1', resolve));
  troubleUrl = `http://127.0.0.1:${(trouble.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await upstream?.close();
  trouble?.closeAllConnections();
  await new Promise((resolve) => trouble?.close(resolve));
});

const at = new Date('2026-12-02T12:00:00Z');
const options = (env: Record<string, string>) => ({ env, timeoutMs: 500, now: () => at });

describe('provider health probes', () => {
  it('a configured provider whose base URL answers (the fake upstream, 404 on a bare GET) is up, with the time it was checked', async () => {
    const probe = await probeProvider('openai', options({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${upstream.url}/v1` }));
    expect(probe).toMatchObject({ provider: 'openai', outcome: 'up', checkedAt: at });
    expect(probe.latencyMs).toBeGreaterThanOrEqual(0);
    // Reachability only: nothing reached a model route, so nothing could be billed.
    expect(upstream.requestCount).toBe(0);
  });

  it('Anthropic is probed at its own base URL the same way', async () => {
    expect(await probeProvider('anthropic', options({ ANTHROPIC_API_KEY: 'sk-ant', ANTHROPIC_BASE_URL: upstream.url }))).toMatchObject({ outcome: 'up' });
  });

  it('sends no key: the probe carries no Authorization or x-api-key header', async () => {
    seenHeaders.length = 0;
    await probeProvider('deepseek', options({ DEEPSEEK_API_KEY: 'sk-secret-value', DEEPSEEK_BASE_URL: `${troubleUrl}/v1` }));
    expect(seenHeaders).toHaveLength(1);
    expect(seenHeaders[0]!.authorization).toBeUndefined();
    expect(seenHeaders[0]!['x-api-key']).toBeUndefined();
    expect(JSON.stringify(seenHeaders[0])).not.toContain('sk-secret-value');
  });

  it('a 5xx is an error, a refused connection or a silent host is down', async () => {
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: `${troubleUrl}/broken` }))).toMatchObject({ outcome: 'error' });
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }))).toMatchObject({ outcome: 'down', latencyMs: null });
    const started = Date.now();
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: `${troubleUrl}/hang` }))).toMatchObject({ outcome: 'down' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a provider without a key is not probed at all; the built-in model answers in-process', async () => {
    seenHeaders.length = 0;
    expect(await probeProvider('google', options({ GEMINI_BASE_URL: troubleUrl }))).toMatchObject({ outcome: 'not_configured', latencyMs: null });
    expect(seenHeaders).toHaveLength(0);
    expect(await probeProvider('local', options({}))).toMatchObject({ outcome: 'up' });
    expect(await probeProvider('local', options({ LOCAL_MODEL_ENABLED: 'false' }))).toMatchObject({ outcome: 'not_configured' });
  });

  it('the cache probes once per provider per TTL, and again when the TTL passes or the base URL changes', async () => {
    let clock = 0;
    const cache = createProbeCache({ ttlMs: 60_000, clock: () => clock });
    const env = { DEEPSEEK_API_KEY: 'k', DEEPSEEK_BASE_URL: `${troubleUrl}/v1` };
    seenHeaders.length = 0;
    const [a, b] = await Promise.all([cache.get('deepseek', options(env)), cache.get('deepseek', options(env))]);
    expect(a).toBe(b);
    clock = 59_999;
    await cache.get('deepseek', options(env));
    expect(seenHeaders).toHaveLength(1);
    clock = 60_000;
    await cache.get('deepseek', options(env));
    expect(seenHeaders).toHaveLength(2);
    await cache.get('deepseek', options({ ...env, DEEPSEEK_BASE_URL: `${troubleUrl}/other` }));
    expect(seenHeaders).toHaveLength(3);
  });
});
