// The /status health probes: free, credential-less, cached, and honest about what they saw.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProbeCache, probeProvider, probeUrl } from '../lib/providers/health';
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

/** A local port nothing listens on: one just given up by a server that was closed. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

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

  it('user:password in a base URL is dropped: the host is still probed, and no credentials are sent', async () => {
    seenHeaders.length = 0;
    const withUser = troubleUrl.replace('http://', 'http://user:pa55word@');
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: `${withUser}/v1` }))).toMatchObject({ outcome: 'up', reason: null });
    expect(seenHeaders).toHaveLength(1);
    expect(seenHeaders[0]!.authorization).toBeUndefined();
    expect(JSON.stringify(seenHeaders[0])).not.toContain('pa55word');
  });

  it('a base URL without an http(s) scheme is misconfigured and not fetched', async () => {
    seenHeaders.length = 0;
    let fetched = 0;
    const fetchImpl = (async () => (fetched++, new Response(null))) as typeof fetch;
    for (const url of ['api.x.com/v1', 'user:pass@api.x.com', 'ftp://api.x.com/']) {
      expect(await probeProvider('openai', { ...options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: url }), fetchImpl }), url).toMatchObject({ outcome: 'misconfigured', latencyMs: null, reason: expect.stringMatching(/must start with https:\/\/ or http:\/\//) });
    }
    expect(fetched).toBe(0);
    expect(probeUrl('https://u:p@api.x.com/v1?x=1')).toMatchObject({ ok: true, url: new URL('https://api.x.com/v1?x=1') });
  });

  it('a 5xx is an error, a refused connection or a silent host is down; the reason is kept for the operator', async () => {
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: `${troubleUrl}/broken` }))).toMatchObject({ outcome: 'error', reason: 'HTTP 503' });
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: `${await closedPortUrl()}/v1` }))).toMatchObject({ outcome: 'down', latencyMs: null, reason: 'ECONNREFUSED' });
    // A port fetch itself refuses to use.
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }))).toMatchObject({ outcome: 'down', reason: 'bad port' });
    const started = Date.now();
    expect(await probeProvider('openai', options({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: `${troubleUrl}/hang` }))).toMatchObject({ outcome: 'down', reason: 'TimeoutError' });
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
    expect(cache.size).toBe(2);
    // Once both have expired, the next lookup drops them: the old base URL's probe is not kept forever.
    clock = 200_000;
    await cache.get('local', options({}));
    expect(cache.size).toBe(1);
  });
});
