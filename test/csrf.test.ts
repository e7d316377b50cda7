// Every mutating route under app/api, found by reading the tree (not from a list kept by hand), is
// called as a cross-site page would call it for a signed-in victim: the victim's valid session
// cookie, a foreign Origin. Each must answer 403 and write nothing. A same-origin control shows
// the same cookie is accepted, so the 403s are the origin rule's and not a broken session.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { encode } from 'next-auth/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthUser } from '../lib/auth/users';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const SECRET = 'csrf-test-secret-0123456789abcdef';
const HOST = 'tollgate.test';
const MUTATING = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;

type RouteModule = Partial<Record<(typeof MUTATING)[number], (request: Request, context: { params: Promise<Record<string, unknown>> }) => Promise<Response>>>;

/** app/api/**\/route.ts → the URL path and the mutating methods its source exports. */
function mutatingRoutes(): Array<{ file: string; path: string; methods: string[] }> {
  const root = join(process.cwd(), 'app', 'api');
  const found: Array<{ file: string; path: string; methods: string[] }> = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'route.ts') {
        const source = readFileSync(full, 'utf8');
        const methods = MUTATING.filter((m) => new RegExp(`export (const|async function|function) ${m}\\b`).test(source));
        const segments = relative(join(process.cwd(), 'app'), dir).split(sep);
        const path = '/' + segments.map((s) => (s === '[...nextauth]' ? 'signin/email' : s.startsWith('[') ? 'x' : s)).join('/');
        // The catch-all that answers unknown URLs with a JSON 404 serves nothing to protect.
        if (methods.length && !source.includes('unknownUrl')) found.push({ file: full, path, methods });
      }
    }
  };
  walk(root);
  return found;
}

let t: TestDatabase;
let cookie: string;
let counts: () => Promise<number[]>;

beforeAll(async () => {
  t = await createTestDatabase();
  // The route modules reach the database and the session secret through the process environment.
  process.env.DATABASE_URL = t.url;
  process.env.NEXTAUTH_SECRET = SECRET;
  process.env.ADMIN_TOKEN = 'csrf-admin-token-0123456789';
  const victim = await createAuthUser({ db: t.db, env: { ADMIN_EMAILS: 'victim@example.test' }, email: 'victim@example.test' });
  cookie = `next-auth.session-token=${await encode({ token: { sub: victim.id }, secret: SECRET, maxAge: 3600 })}`;
  counts = () =>
    Promise.all([t.db.apiKey.count(), t.db.auditLog.count(), t.db.ledgerTransaction.count(), t.db.usageRecord.count(), t.db.waitlistEntry.count(), t.db.depositIntent.count(), t.db.devMail.count()]);
});
afterAll(async () => t.close());

const request = (method: string, path: string, origin: string) =>
  new Request(`http://${HOST}${path}`, {
    method,
    headers: { host: HOST, origin, cookie, 'content-type': 'application/json' },
    body: method === 'DELETE' ? undefined : JSON.stringify({ name: 'x', model: 'local-echo', messages: [{ role: 'user', content: 'hi' }], email: 'x@example.test' }),
  });

describe('cross-site writes with a valid session cookie', () => {
  const routes = mutatingRoutes();

  it('finds the mutating routes, the playground among them', () => {
    const paths = routes.map((r) => r.path);
    expect(paths).toContain('/api/playground/chat');
    expect(paths).toContain('/api/keys');
    expect(paths).toContain('/api/auth/signin/email');
    expect(routes.flatMap((r) => r.methods).length).toBeGreaterThanOrEqual(20);
  });

  for (const route of mutatingRoutes()) {
    for (const method of route.methods) {
      it(`${method} ${route.path} → 403, nothing written`, async () => {
        const handlers = (await import(route.file)) as RouteModule;
        const before = await counts();
        for (const origin of ['https://evil.example', 'null', `https://${HOST}.evil.example`]) {
          const response = await handlers[method as (typeof MUTATING)[number]]!(request(method, route.path, origin), { params: Promise.resolve({ id: 'x', key: 'x', path: ['x'], nextauth: ['signin', 'email'] }) });
          expect(response.status, `${method} ${route.path} from ${origin}`).toBe(403);
          expect(await response.json()).toMatchObject({ error: { code: 'cross_origin' } });
        }
        expect(await counts()).toEqual(before);
      });
    }
  }

  it('Basic credentials a browser resends by itself neither skip the origin rule nor lock the session out', async () => {
    const keys = (await import(join(process.cwd(), 'app/api/keys/route.ts'))) as RouteModule & { GET: (request: Request) => Promise<Response> };
    const basic = 'Basic dXNlcjpwYXNz';
    const foreign = new Request(`http://${HOST}/api/keys`, { method: 'POST', headers: { host: HOST, cookie, origin: 'https://evil.example', authorization: basic, 'content-type': 'application/json' }, body: '{"name":"z"}' });
    expect((await keys.POST!(foreign, { params: Promise.resolve({}) })).status).toBe(403);
    const link = (await import(join(process.cwd(), 'app/api/auth/link-email/route.ts'))) as RouteModule;
    const forged = new Request(`http://${HOST}/api/auth/link-email`, { method: 'POST', headers: { host: HOST, cookie, origin: 'https://evil.example', authorization: basic, 'content-type': 'application/json' }, body: '{"email":"attacker@example.test"}' });
    expect((await link.POST!(forged, { params: Promise.resolve({}) })).status).toBe(403);
    // The owner's own page behind HTTP authentication: the session still decides.
    const own = await keys.GET(new Request(`http://${HOST}/api/keys`, { headers: { host: HOST, cookie, authorization: basic } }));
    expect(own.status).toBe(200);
  });

  it('the same cookie from our own origin is accepted (the control)', async () => {
    const { POST } = (await import(join(process.cwd(), 'app/api/keys/route.ts'))) as RouteModule;
    const own = new Request(`http://${HOST}/api/keys`, { method: 'POST', headers: { host: HOST, origin: `http://${HOST}`, cookie, 'content-type': 'application/json' }, body: '{"name":"mine"}' });
    const response = await POST!(own, { params: Promise.resolve({}) });
    expect(response.status).toBe(201);
    const fetchSite = new Request(`http://${HOST}/api/keys`, { method: 'POST', headers: { host: HOST, cookie, 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }, body: '{"name":"y"}' });
    expect((await POST!(fetchSite, { params: Promise.resolve({}) })).status).toBe(403);
  });
});
