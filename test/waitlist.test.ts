import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEER_HEADER, trustPeerHeader } from '../lib/http/client-address';
import { WindowLimiter, createWaitlistApi, joinWaitlist, waitlistRateLimit } from '../lib/waitlist';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  // As Tollgate's servers do: the socket's address in PEER_HEADER (here, made up per test).
  trustPeerHeader();
});
afterAll(async () => t.close());

const post = (body: unknown, ip = '203.0.113.7') =>
  new Request('http://tollgate.test/api/waitlist', {
    method: 'POST',
    headers: { 'content-type': 'application/json', [PEER_HEADER]: ip },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

type Answer = { status: string; message: string; email: string; error: { code: string; param: string | null; message: string } };

describe('waitlist', () => {
  it('stores an address once, in lower case, with company and use case; a repeat is a friendly duplicate', async () => {
    const api = createWaitlistApi({ db: t.db });
    const first = await api.join(post({ email: '  Ada@Example.COM ', company: 'Analytical Engines', use_case: 'Route batch jobs to the cheapest model' }));
    expect(first.status).toBe(201);
    expect((await first.json()) as Answer).toMatchObject({ status: 'joined', email: 'ada@example.com', message: expect.stringContaining('on the list') });

    const again = await api.join(post({ email: 'ADA@example.com', company: 'Someone else' }));
    expect(again.status).toBe(200);
    expect((await again.json()) as Answer).toMatchObject({ status: 'already_joined', message: expect.stringContaining('already on the list') });

    const rows = await t.db.waitlistEntry.findMany({ where: { email: 'ada@example.com' } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toMatch(/^wl_/);
    expect(JSON.parse(rows[0]!.source!)).toEqual({ form: 'home', company: 'Analytical Engines', use_case: 'Route batch jobs to the cheapest model' });
  });

  it.each([
    [{ email: 'not-an-email' }, 'email'],
    [{}, 'email'],
    [{ email: '' }, 'email'],
    [{ email: `${'a'.repeat(250)}@example.com` }, 'email'],
    [{ email: 'ok@example.com', company: 'x'.repeat(121) }, 'company'],
    [{ email: 'ok@example.com', use_case: 'x'.repeat(1001) }, 'use_case'],
    [{ email: 42 }, 'email'],
  ])('refuses %j naming %s', async (body, param) => {
    const response = await createWaitlistApi({ db: t.db }).join(post(body));
    expect(response.status).toBe(400);
    expect(((await response.json()) as Answer).error).toMatchObject({ type: 'invalid_request_error', param });
    expect(await t.db.waitlistEntry.count({ where: { email: 'ok@example.com' } })).toBe(0);
  });

  it('refuses a body that is not a JSON object', async () => {
    const api = createWaitlistApi({ db: t.db });
    expect((await api.join(post('nope'))).status).toBe(400);
    expect((await api.join(post('["a@example.com"]'))).status).toBe(400);
  });

  it('stores blank optional fields as absent', async () => {
    await joinWaitlist(t.db, { email: 'blank@example.com', company: '   ', use_case: '' });
    const row = await t.db.waitlistEntry.findUniqueOrThrow({ where: { email: 'blank@example.com' } });
    expect(JSON.parse(row.source!)).toEqual({ form: 'home' });
  });

  it('concurrent sign-ups with one address leave one row and answer both', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => joinWaitlist(t.db, { email: 'race@example.com' })));
    expect(results.filter((r) => r.status === 'joined')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'already_joined')).toHaveLength(5);
    expect(await t.db.waitlistEntry.count({ where: { email: 'race@example.com' } })).toBe(1);
  });

  it('limits sign-ups per client address with a 429 and Retry-After', async () => {
    let now = 1_000_000;
    const api = createWaitlistApi({ db: t.db, limiter: new WindowLimiter(2, 60_000, () => now) });
    expect((await api.join(post({ email: 'l1@example.com' }, '198.51.100.1'))).status).toBe(201);
    expect((await api.join(post({ email: 'l2@example.com' }, '198.51.100.1'))).status).toBe(201);
    const limited = await api.join(post({ email: 'l3@example.com' }, '198.51.100.1'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(((await limited.json()) as Answer).error.code).toBe('rate_limited');
    expect(await t.db.waitlistEntry.count({ where: { email: 'l3@example.com' } })).toBe(0);
    // Another address is not affected; the window passes.
    expect((await api.join(post({ email: 'l4@example.com' }, '198.51.100.2'))).status).toBe(201);
    now += 60_000;
    expect((await api.join(post({ email: 'l3@example.com' }, '198.51.100.1'))).status).toBe(201);
  });

  it('gives callers the server cannot tell apart one shared bucket ten times larger', async () => {
    const api = createWaitlistApi({ db: t.db, limiter: new WindowLimiter(1, 60_000) });
    const bare = (email: string) => new Request('http://tollgate.test/api/waitlist', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) });
    for (let i = 0; i < 10; i++) expect((await api.join(bare(`bare${i}@example.com`))).status).toBe(201);
    expect((await api.join(bare('bare10@example.com'))).status).toBe(429);
  });

  it('reads WAITLIST_RATE_LIMIT, falling back to 5 for anything but a positive integer', () => {
    expect(waitlistRateLimit({})).toBe(5);
    expect(waitlistRateLimit({ WAITLIST_RATE_LIMIT: '20' })).toBe(20);
    expect(waitlistRateLimit({ WAITLIST_RATE_LIMIT: 'lots' })).toBe(5);
    expect(waitlistRateLimit({ WAITLIST_RATE_LIMIT: '0' })).toBe(5);
  });

  it('ignores X-Forwarded-For from an untrusted peer: rotating it does not buy more sign-ups', async () => {
    const api = createWaitlistApi({ db: t.db, env: {}, limiter: new WindowLimiter(5, 60_000) });
    const rotating = (i: number) =>
      new Request('http://tollgate.test/api/waitlist', {
        method: 'POST',
        headers: { 'content-type': 'application/json', [PEER_HEADER]: '198.51.100.77', 'x-forwarded-for': `192.0.2.${i}`, 'x-real-ip': `192.0.2.${i}` },
        body: JSON.stringify({ email: `rot${i}@example.com` }),
      });
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await api.join(rotating(i))).status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
  });

  it('behind a trusted proxy, limits by the hop that proxy saw', async () => {
    const api = createWaitlistApi({ db: t.db, env: { TRUSTED_PROXIES: '10.0.0.0/8' }, limiter: new WindowLimiter(1, 60_000) });
    const via = (xff: string, email: string) =>
      new Request('http://tollgate.test/api/waitlist', { method: 'POST', headers: { 'content-type': 'application/json', [PEER_HEADER]: '10.0.0.5', 'x-forwarded-for': xff }, body: JSON.stringify({ email }) });
    expect((await api.join(via('203.0.113.50', 'p1@example.com'))).status).toBe(201);
    // The client prepends a made-up hop; the proxy appended the real one, which is what counts.
    expect((await api.join(via('1.2.3.4, 203.0.113.50', 'p2@example.com'))).status).toBe(429);
    expect((await api.join(via('203.0.113.51', 'p3@example.com'))).status).toBe(201);
  });
});
