/*
 * How many promises one chat completion makes on the lean gateway server, streamed and not (issue
 * #12, round 16). Nothing in the gateway's behaviour shows it, yet in a deployed process it costs:
 * once Next has served a page, AsyncLocalStorage is in use (four stores), and Node 20 and 22 then
 * run hooks on every promise the process makes and around every continuation of one (and an
 * `await` makes one more promise of its own while hooks are on). A `for await` over a request body
 * or an extra async generator between the upstream and the client adds several promises a call or
 * a streamed event without changing a single answer.
 *
 * The preload (test/helpers/count-per-call.mjs) counts every promise the server makes; the budgets
 * below are this round's counts plus a margin of about 5%. A change that fails them makes the hot
 * path costlier on Node 20 and 22: take the promises out, or, if they earn their keep (or a
 * dependency's upgrade moved the count), raise the budget in the same commit and say why.
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

/**
 * Promises a call may make: non-streaming, and streamed. The fake upstream sends a stream's sixteen
 * events in one write, so a cost per network read shows here once a call; a real upstream's tokens
 * come a read or a few at a time and pay it more often.
 */
const BUDGET = { complete: 102, stream: 162 };
const CALLS = 40;
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

describe('promises per call on the hot path', () => {
  it('the counter sees every promise a process makes', async () => {
    // Proof that the preload counts as this test assumes: between two reports, 50 calls of an async
    // function that awaits once make 150 to 250 promises (its own, the awaited one, the await's own,
    // and the loop's await of it). Loading the script alone makes over a thousand: hence the difference.
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-promises-'));
    const script = join(dir, 'promises.mts');
    writeFileSync(
      script,
      "const step = async (i: number): Promise<number> => (await Promise.resolve(i)) + 1;\nprocess.kill(process.pid, 'SIGUSR2');\nawait new Promise((resolve) => setTimeout(resolve, 100));\nlet sum = 0;\nfor (let i = 0; i < 50; i++) sum += await step(i);\nif (sum === 0) process.exit(1);\nprocess.kill(process.pid, 'SIGUSR2');\nsetTimeout(() => undefined, 200);\n",
    );
    const { child, output } = startCounted(['--import', 'tsx', script], process.env);
    let code: number | null;
    try {
      code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    expect(code).toBe(0);
    const [first, second] = [...output().matchAll(/function-names \{.*\}\npromises \d+\n/g)].map((report) => parseCounts(report[0])!.promises);
    expect(second! - first!).toBeGreaterThanOrEqual(150);
    expect(second! - first!).toBeLessThanOrEqual(250);
  });

  it('a chat completion stays within its budget of promises, streamed and not', async () => {
    const customer = await createCustomer(t.db, 10_000_000n);
    const port = await freePort();
    // The caches that reload on a clock (the catalog, keys, seller pools) and the hold sweeper kept
    // out of the measured windows: their promises come per second, not per call, and a slow run
    // would count more of them a call (one sweep alone is ~5 a call over 40 calls).
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
    const complete = async () => {
      expect((await client.chat.completions.create({ model: 'gpt-4o-mini', messages })).choices[0]?.message.content).toBeTruthy();
    };
    const stream = async () => {
      let usage = null;
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })) usage = chunk.usage ?? usage;
      expect(usage?.completion_tokens).toBeGreaterThan(0);
    };
    const perCall = async (call: () => Promise<void>) => {
      for (let i = 0; i < WARM_UP; i++) await call();
      const before = (await gateway.counts()).promises;
      for (let i = 0; i < CALLS; i++) await call();
      return ((await gateway.counts()).promises - before) / CALLS;
    };
    expect(await perCall(complete), 'promises a non-streaming call').toBeLessThanOrEqual(BUDGET.complete);
    expect(await perCall(stream), 'promises a streamed call').toBeLessThanOrEqual(BUDGET.stream);
  }, 120_000);
});
