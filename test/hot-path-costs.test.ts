/*
 * What a chat completion costs on the lean gateway server (`npm run gateway`: the gateway's source
 * under tsx) that nothing in its behaviour shows, counted per call by a preload
 * (test/helpers/count-per-call.mjs) while the server answers chat completions, streamed and not,
 * through the official OpenAI client. Only chat completions, the benchmark's call.
 *
 * Named closures (issue #12, round 13). tsx compiles with esbuild's keepNames: every function that
 * would get a name from its binding (`const send = (bytes) => …`, `{ write: (bytes) => … }`, an
 * inner function declaration) is named again as it is made, by an Object.defineProperty call. On
 * Node 20 that costs ~0.35 µs per closure, and the stream relay and its sink made twelve per
 * streamed call. No name may be given about once per call. `npm start` serves /v1 from Next's
 * build (instrumentation.ts makes the process's gateway), minified without keepNames; its Node
 * server and stream sink (lib/server/node-server.ts) run under tsx in both. The Responses dialect
 * still makes a few such closures per call.
 *
 * Promises (round 16). Once Next has served a page, AsyncLocalStorage is in use (four stores), and
 * Node 20 and 22 then run hooks on every promise the process makes and around every continuation
 * of one (and an `await` makes one more promise of its own while hooks are on). A `for await` over
 * a request body or an extra async generator between the upstream and the client adds several
 * promises a call or a streamed event without changing a single answer. The budgets below are
 * round 16's counts plus about 5%. A change that fails them makes the hot path costlier on Node 20
 * and 22: take the promises out, or, if they earn their keep (or a dependency's upgrade moved the
 * count), raise the budget in the same commit and say why.
 */
import type { ChildProcess } from 'node:child_process';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { freePort, waitHealthy } from './helpers/ports';
import { createCustomer, upstreamEnv } from './helpers/gateway';
import { runCountedScript, startCounted, stopCounted, type CountedProcess } from './helpers/counted-process';

/**
 * Promises a call may make: non-streaming, and streamed. The fake upstream sends a stream's sixteen
 * events in one write, so a cost per network read shows here once a call; a real upstream's tokens
 * come a read or a few at a time and pay it more often.
 */
const PROMISE_BUDGET = { complete: 102, stream: 162 };
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

/** The lean gateway server under the counting preload, with a funded customer's client. */
async function startCountedGateway(): Promise<{ gateway: CountedProcess; complete(): Promise<void>; stream(): Promise<void> }> {
  const customer = await createCustomer(t.db, 10_000_000n);
  const port = await freePort();
  // The caches that reload on a clock (the catalog, keys, seller pools) and the hold sweeper kept
  // out of the measured windows: their work comes per second, not per call, and a slow run would
  // count more of it a call (one sweep alone is ~5 promises a call over 40 calls).
  const env = {
    ...process.env,
    ...upstreamEnv(fake.url, { DATABASE_URL: t.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', CATALOG_CACHE_MS: '3600000', KEY_CACHE_MS: '3600000', POOL_DIRECTORY_MS: '3600000', HOLD_SWEEP_INTERVAL_MS: '3600000' }),
  };
  const gateway = startCounted(['--import', 'tsx', 'scripts/gateway-server.ts'], env);
  server = gateway.child;
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, gateway.child, gateway.output);
  const client = new OpenAI({ apiKey: customer.secret, baseURL: `${url}/v1`, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'Say hello in five words.' }];
  return {
    gateway,
    async complete() {
      expect((await client.chat.completions.create({ model: 'gpt-4o-mini', messages })).choices[0]?.message.content).toBeTruthy();
    },
    async stream() {
      let usage = null;
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })) usage = chunk.usage ?? usage;
      expect(usage?.completion_tokens).toBeGreaterThan(0);
    },
  };
}

describe('the counting preload', () => {
  it('sees a closure that tsx names as it is made', async () => {
    // A module that makes a named arrow per iteration, run under tsx, shows it once per iteration.
    const { code, reports } = await runCountedScript("let kept = 0;\nfor (let i = 0; i < 50; i++) {\n  const perIteration = (x: number): number => x + i;\n  kept += perIteration(1);\n}\nif (kept === 0) process.exit(1);\nprocess.kill(process.pid, 'SIGUSR2');\nsetTimeout(() => undefined, 200);\n");
    expect(code).toBe(0);
    expect(reports[0]?.names.get('perIteration')).toBe(50);
  });

  it('sees every promise a process makes', async () => {
    // Between two reports, 50 calls of an async function that awaits once make 150 to 250 promises
    // (its own, the awaited one, the await's own, and the loop's await of it). Loading the script
    // makes thousands, and under Node 24 goes on after its top level has started: it waits until a
    // 50 ms pause makes no more than its own few (at most 3 s) before the first report.
    const { code, reports } = await runCountedScript(
      [
        "const made = (globalThis as Record<symbol, unknown>)[Symbol.for('tollgate.promisesMade')] as () => number;",
        'const pause = () => new Promise((resolve) => setTimeout(resolve, 50));',
        'for (let i = 0, last = -1; i < 60 && made() - last > 5; i++) {',
        '  last = made();',
        '  await pause();',
        '}',
        'const step = async (i: number): Promise<number> => (await Promise.resolve(i)) + 1;',
        "process.kill(process.pid, 'SIGUSR2');",
        'await pause();',
        'let sum = 0;',
        'for (let i = 0; i < 50; i++) sum += await step(i);',
        'if (sum === 0) process.exit(1);',
        "process.kill(process.pid, 'SIGUSR2');",
        'setTimeout(() => undefined, 200);',
      ].join('\n'),
    );
    expect(code).toBe(0);
    const made = reports[1]!.promises - reports[0]!.promises;
    expect(made).toBeGreaterThanOrEqual(150);
    expect(made).toBeLessThanOrEqual(250);
  });
});

describe('a chat completion on the hot path', () => {
  it('names no closure once per call, streamed or not, and stays within its budget of promises', async () => {
    const { gateway, complete, stream } = await startCountedGateway();
    for (let i = 0; i < WARM_UP; i++) await (i % 2 === 0 ? complete() : stream());
    const before = await gateway.counts();
    // The counter reaches the gateway's own modules: the stream relay's module named its functions once, as it loaded.
    expect(before.names.get('relayStream')).toBe(1);

    // Half the calls stream: a closure made per streamed call shows CALLS / 2 times.
    const CALLS = 60;
    for (let i = 0; i < CALLS; i++) await (i % 2 === 0 ? complete() : stream());
    const after = await gateway.counts();
    const perCall = [...after.names]
      .map(([name, count]) => [name, count - (before.names.get(name) ?? 0)] as const)
      .filter(([, added]) => added >= CALLS / 2)
      .map(([name, added]) => `${name}: ${added}`);
    expect(perCall).toEqual([]);

    const promisesPerCall = async (call: () => Promise<void>, calls = 40) => {
      const start = (await gateway.counts()).promises;
      for (let i = 0; i < calls; i++) await call();
      return ((await gateway.counts()).promises - start) / calls;
    };
    expect(await promisesPerCall(complete), 'promises a non-streaming call').toBeLessThanOrEqual(PROMISE_BUDGET.complete);
    expect(await promisesPerCall(stream), 'promises a streamed call').toBeLessThanOrEqual(PROMISE_BUDGET.stream);
  }, 120_000);
});
