/*
 * The chat-completions path makes no named closure per call when served by the lean gateway server
 * (`npm run gateway`), which runs the gateway's source under tsx (issue #12, round 13). `npm start`
 * serves /v1 from Next's build instead (instrumentation.ts makes the process's gateway), which is
 * minified without keepNames; its Node server and stream sink (lib/server/node-server.ts) run under
 * tsx in both.
 *
 * tsx compiles with esbuild's keepNames: every function that would get a name from its binding
 * (`const send = (bytes) => …`, `{ write: (bytes) => … }`, an inner function declaration) is named
 * again as it is made, by an Object.defineProperty call. On Node 20 that costs ~0.35 µs per
 * closure, and the stream relay and its sink made twelve per streamed call. Nothing in the code's
 * behaviour shows it, so this test counts those calls: the lean gateway server runs under tsx with a
 * preload that counts every function named by Object.defineProperty
 * (test/helpers/count-per-call.mjs), serves chat completions, streamed and not, through the
 * official OpenAI client, and no name may be given about once per call. Only chat completions, the
 * benchmark's call: the Responses dialect still makes a few such closures per call.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { freePort, waitHealthy } from './helpers/ports';
import { createCustomer, upstreamEnv } from './helpers/gateway';
import { parseCounts, startCounted, stopCounted } from './helpers/counted-process';

const CALLS = 60;
const WARM_UP = 10;

let t: TestDatabase;
let fake: FakeUpstream;
let server: ChildProcess | undefined;

beforeAll(async () => {
  t = await createTestDatabase();
  fake = await startFakeUpstream({ record: false });
});

afterAll(async () => {
  await stopCounted(server);
  await fake?.close();
  await t?.close();
});

function perCall(before: Map<string, number>, after: Map<string, number>, calls: number): string[] {
  return [...after]
    .map(([name, count]) => [name, count - (before.get(name) ?? 0)] as const)
    .filter(([, added]) => added >= calls / 2)
    .map(([name, added]) => `${name}: ${added}`);
}

describe('named closures on the hot path', () => {
  it('the counter sees a closure that tsx names as it is made', async () => {
    // Proof that the preload and tsx meet as this test assumes: a module that makes a named arrow
    // per iteration, run under tsx, shows it once per iteration.
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-names-'));
    const script = join(dir, 'per-iteration.ts');
    writeFileSync(script, "let kept = 0;\nfor (let i = 0; i < 50; i++) {\n  const perIteration = (x: number): number => x + i;\n  kept += perIteration(1);\n}\nif (kept === 0) process.exit(1);\nprocess.kill(process.pid, 'SIGUSR2');\nsetTimeout(() => undefined, 200);\n");
    const { child, output } = startCounted(['--import', 'tsx', script], process.env);
    let code: number | null;
    try {
      // 'close', not 'exit': its output has been read by then.
      code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    expect(code).toBe(0);
    expect(parseCounts(output())?.names.get('perIteration')).toBe(50);
  });

  it('serving chat completions, streamed or not, names no closure once per call', async () => {
    const customer = await createCustomer(t.db, 10_000_000n);
    const port = await freePort();
    // The catalog cached as in production (the tests' default re-reads it through Prisma each call).
    const env = { ...process.env, ...upstreamEnv(fake.url, { DATABASE_URL: t.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', CATALOG_CACHE_MS: '60000' }) };
    const gateway = startCounted(['--import', 'tsx', 'scripts/gateway-server.ts'], env);
    server = gateway.child;
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, gateway.child, gateway.output);
    const client = new OpenAI({ apiKey: customer.secret, baseURL: `${url}/v1`, maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'Say hello in five words.' }];
    const call = async (i: number) => {
      if (i % 2 === 0) {
        expect((await client.chat.completions.create({ model: 'gpt-4o-mini', messages })).choices[0]?.message.content).toBeTruthy();
        return;
      }
      let usage = null;
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })) usage = chunk.usage ?? usage;
      expect(usage?.completion_tokens).toBeGreaterThan(0);
    };
    for (let i = 0; i < WARM_UP; i++) await call(i);
    const before = (await gateway.counts()).names;
    // The counter reaches the gateway's own modules: the stream relay's module named its functions once, as it loaded.
    expect(before.get('relayStream')).toBe(1);
    for (let i = 0; i < CALLS; i++) await call(i);
    const after = (await gateway.counts()).names;
    // Half the calls stream: a closure made per streamed call shows CALLS / 2 times.
    expect(perCall(before, after, CALLS)).toEqual([]);
  }, 120_000);
});
