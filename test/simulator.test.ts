/*
 * A seeded, fault-injecting simulator over the real gateway and ledger (issue #13). Each schedule,
 * drawn from its seed (test/sim/schedule.ts), gets a fresh database and two gateway instances on
 * it, each with its own database client (test/sim/world.ts), a few customers with random balances,
 * daily limits and pack lots, and then concurrent calls — streaming or not, to the fake upstream
 * on OpenAI's and Anthropic's wire and to the local model, with per-call upstream faults, client
 * aborts and repeated Idempotency-Keys — among sweeper runs, key revocations, instance crashes and
 * restarts and, with a fake Date, midnight crossings and clock jumps. Once quiet, it is swept with
 * a far-future now and checked against invariants derived from what the clients saw and from the
 * database (test/sim/invariants.ts).
 *
 * Run:
 *   npx vitest run test/simulator.test.ts               the CI budget: seeds 1..SIM_CI_SEEDS
 *   SIM_SEEDS=300 npm run sim                           seeds 1..300 (npm run sim alone: 1..1000)
 *   SIM_SEEDS=500 SIM_SEED_START=7000 npm run sim       seeds 7000..7499
 *   SIM_SEED=42 npx vitest run test/simulator.test.ts   one seed, its operation log printed
 *   SIM_SIZE=2, SIM_COVERAGE=1                          schedules twice as long; print what ran
 * (npm passes arguments on to vitest, which refuses unknown ones: the count is an environment
 * variable.) With TEST_DATABASE_URL=postgresql://... on PostgreSQL. A failure prints the seed, the
 * schedule, what each call's client saw and what the gateway logged meanwhile; SIM_SEED=<seed>
 * runs the same operations again (their interleaving is the machine's, so a race may need a few
 * runs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../lib/db/client';
import { sql } from '../lib/db/sql';
import { newId } from '../lib/ids';
import { Ledger, SYSTEM_ACCOUNTS, walletAccountId } from '../lib/ledger';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase } from './helpers/db';
import { createCustomer, upstreamEnv } from './helpers/gateway';
import { runSchedule } from './sim/run';
import { generateSchedule } from './sim/schedule';
import { crashInstance, startInstance } from './sim/world';

/** Schedules in the normal test run: 85 s on SQLite, 105 s on PostgreSQL, alone on two cores. */
const SIM_CI_SEEDS = 200;

const single = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : null;
const count = single !== null ? 1 : Number(process.env.SIM_SEEDS ?? SIM_CI_SEEDS);
const first = single ?? Number(process.env.SIM_SEED_START ?? 1);
const size = Number(process.env.SIM_SIZE ?? 1);
const seeds = Array.from({ length: count }, (_, i) => first + i);

let fake: FakeUpstream;
/** What the gateway logs (one JSON line per entry, to stderr) goes into the running schedule's log, not the console. */
const gatewayLog: string[] = [];
const writeStderr = process.stderr.write.bind(process.stderr);

beforeAll(async () => {
  fake = await startFakeUpstream({ record: false });
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.startsWith('{"time"')) {
      gatewayLog.push(...text.trimEnd().split('\n'));
      return true;
    }
    return (writeStderr as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
});

/** Summed over the run's schedules, printed at the end: what the run covered. */
const coverage: Record<string, number> = {};

afterAll(async () => {
  process.stderr.write = writeStderr;
  if (process.env.SIM_COVERAGE) console.log(['simulator coverage:', ...Object.entries(coverage).sort(([a], [b]) => a.localeCompare(b)).map(([what, n]) => `  ${what}: ${n}`)].join('\n'));
  await fake?.close();
});

describe("the simulator's crash", () => {
  it('cuts the instance off the database: neither Prisma nor the SQL runner reaches it again', async () => {
    const t = await createTestDatabase();
    const instance = await startInstance(t.config, upstreamEnv(fake.url), 0, 0);
    expect(await instance.db.usageRecord.count()).toBe(0);
    expect(await sqlFor(instance.db).query(sql`SELECT 1 AS one`)).toHaveLength(1);
    await crashInstance(instance);
    // Twice: a client that reconnects after its first failure would pass once.
    for (let i = 0; i < 2; i++) {
      await expect(instance.db.usageRecord.count()).rejects.toThrow();
      await expect(sqlFor(instance.db).query(sql`SELECT 1 AS one`)).rejects.toThrow();
    }
    await t.close();
  });

  it("loses a settlement SQLite answered but had not committed, tells which, and keeps what PostgreSQL answered", async () => {
    const t = await createTestDatabase();
    const customer = await createCustomer(t.db, 1_000_000n);
    const instance = await startInstance(t.config, upstreamEnv(fake.url), 0, 0);
    const ledger = instance.gw.gateway.ctx.ledger;
    const requestId = newId('req');
    // A call's two phases, each answered as the gateway's are: on SQLite before the commit window
    // they opened closes (10 ms), on PostgreSQL once committed.
    const { holds } = await ledger.reserve({ idempotencyKey: `hold:${requestId}`, sources: [walletAccountId(customer.user.id)], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 5_000n, ttlMs: 60_000 });
    const usage = { id: newId('usg'), requestId, userId: customer.user.id, apiKeyId: customer.keyId, modelId: 'tollgate-local', providerId: 'local', stream: false, promptTokens: 3, completionTokens: 4, cachedTokens: 0, cost: 2_000n, latencyMs: 1, status: 'SUCCESS' as const, errorCode: null, createdAt: new Date() };
    await ledger.settle({ holds, amount: 2_000n, idempotencyKey: `settle:${requestId}`, usage });
    const { lostPhases, lostSettlements } = await crashInstance(instance);
    const rows = await t.db.usageRecord.count({ where: { requestId } });
    const holdRows = await t.db.hold.count({ where: { idempotencyKey: { startsWith: `hold:${requestId}` } } });
    const balance = (await new Ledger(t.db).getAccountBalance({ accountId: walletAccountId(customer.user.id) })).balance;
    if (t.config.provider === 'sqlite') {
      expect({ lostPhases, lostSettlements: [...lostSettlements], rows, holdRows, balance }).toEqual({ lostPhases: 2, lostSettlements: [requestId], rows: 0, holdRows: 0, balance: 1_000_000n });
    } else {
      expect({ lostPhases, lostSettlements: [...lostSettlements], rows, holdRows, balance }).toEqual({ lostPhases: 0, lostSettlements: [], rows: 1, holdRows: 1, balance: 998_000n });
    }
    await t.close();
  });
});

describe('the gateway and ledger under seeded schedules of concurrent calls and faults', () => {
  it.each(seeds)('seed %i', async (seed) => {
    gatewayLog.length = 0;
    const schedule = generateSchedule(seed, size);
    const result = await runSchedule(schedule, fake, gatewayLog);
    for (const [what, n] of Object.entries(result.coverage)) coverage[what] = (coverage[what] ?? 0) + n;
    const report = [`seed ${seed} (SIM_SEED=${seed} to run it alone): ${result.problems.length} problems`, ...result.problems.map((p) => `  ${p}`), 'operation log:', ...result.log].join('\n');
    if (single !== null) console.log(report);
    expect(result.problems, report).toEqual([]);
  }, 90_000);
});
