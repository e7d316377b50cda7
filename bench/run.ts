// `npm run bench`: what Tollgate costs per request, measured against a fake upstream, side by side
// with the upstream itself and a bare proxy, in one run on one machine.
//
//   BENCH_DURATION=10       measured seconds per target and mode (after a 2 s warm-up)
//   BENCH_CONNECTIONS=16    concurrent connections
//   BENCH_SKIP_BUILD=1      reuse .next instead of running `next build`
//   BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
//                           run on a fresh PostgreSQL database beside this one (default: SQLite)
//
// Every server runs in its own process, so the load generator (this process) never shares an
// event loop with what it measures. It does share the machine's cores: read the numbers as
// relative to each other, not as absolute capacity.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBilling, waitForQuiet, type BillingCheck, type TollgateTally } from './support/billing';
import { freePort, killAllNow, runToCompletion, startService, type Service, type StderrMessage } from './support/children';
import { prepareBenchDatabase, type BenchDatabase } from './support/database';
import { runLoad, type LoadStats } from './support/load';
import { consoleTable, markdownTable, type Mode, type ResultRow } from './support/report';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const NEXT_BIN = join(ROOT, 'node_modules', 'next', 'dist', 'bin', 'next');

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

const settings = {
  connections: positiveInt('BENCH_CONNECTIONS', 16),
  durationSec: positiveInt('BENCH_DURATION', 10),
  warmupSec: 2,
  skipBuild: process.env.BENCH_SKIP_BUILD === '1',
  databaseServerUrl: process.env.BENCH_DATABASE_URL?.trim() || undefined,
};

const CHAT_REQUEST = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello in five words.' }],
  max_tokens: 64,
};
const BODIES: Record<Mode, string> = {
  'non-streaming': JSON.stringify(CHAT_REQUEST),
  streaming: JSON.stringify({ ...CHAT_REQUEST, stream: true, stream_options: { include_usage: true } }),
};
const MODES: Mode[] = ['non-streaming', 'streaming'];
const DB_ROUND_TRIPS_NOTE =
  'Tollgate makes 3 database round trips per chat completion on the hot path: the key lookup, the reservation (hold + daily quota) and the settlement (usage row + ledger posting).';

type TargetId = 'direct' | 'bare-proxy' | 'tollgate-lean' | 'tollgate-next';
type Target = { id: TargetId; label: string; tollgate: boolean; service: Service };

// ---- cleanup: on success, on error, on Ctrl-C --------------------------------------------------

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      await step().catch((error: unknown) => console.error(`cleanup: ${error instanceof Error ? error.message : String(error)}`));
    }
  })();
  return cleaning;
}

// The last resort when the process exits without cleanup having finished.
process.on('exit', killAllNow);
// `on`, not `once`: Ctrl-C reaches this process both from the terminal and relayed by the tsx CLI,
// and a second signal with no listener left would kill the process halfway through cleanup.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (cleaning) return;
    console.error(`\n${signal}: stopping servers and removing the benchmark database…`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---- checks ------------------------------------------------------------------------------------

/** One request by hand before the load: a target that answers garbage must not be timed. */
async function smokeTest(url: string, mode: Mode, apiKey: string): Promise<{ status: number; problem: string | null }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: BODIES[mode],
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) return { status: response.status, problem: `HTTP ${response.status}: ${text.slice(0, 500)}` };
  if (mode === 'non-streaming') {
    try {
      const body = JSON.parse(text) as { choices?: Array<{ message?: { content?: unknown } }>; usage?: { total_tokens?: unknown } };
      if (typeof body.choices?.[0]?.message?.content !== 'string') return { status: response.status, problem: `no choices[0].message.content in ${text.slice(0, 300)}` };
      if (typeof body.usage?.total_tokens !== 'number') return { status: response.status, problem: `no usage in ${text.slice(0, 300)}` };
    } catch {
      return { status: response.status, problem: `not JSON: ${text.slice(0, 300)}` };
    }
    return { status: response.status, problem: null };
  }
  if (!text.includes('data: [DONE]')) return { status: response.status, problem: `stream did not end with [DONE]: ${text.slice(-300)}` };
  if (!/"usage":\{/.test(text)) return { status: response.status, problem: 'stream_options.include_usage was asked for but no usage chunk arrived' };
  return { status: response.status, problem: null };
}

const verifiers: Record<Mode, (body: string) => boolean> = {
  'non-streaming': (body) => body.includes('"choices"'),
  streaming: (body) => body.includes('data: [DONE]'),
};

function trouble(stats: LoadStats): number {
  return stats.non2xx + stats.errors + stats.mismatches;
}

function describeTrouble(stats: LoadStats): string {
  const codes = Object.entries(stats.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, count]) => `${code}×${count}`)
    .join(', ');
  return `non-2xx ${stats.non2xx}${codes ? ` (${codes})` : ''}, connection errors ${stats.errors} (timeouts ${stats.timeouts}), bad bodies ${stats.mismatches}`;
}

function loud(lines: string[]): void {
  const bar = '!'.repeat(100);
  console.error([bar, ...lines.map((line) => `!! ${line}`), bar].join('\n'));
}

// ---- main --------------------------------------------------------------------------------------

type RunRecord = { target: TargetId; mode: Mode; warmup: LoadStats | null; measured: LoadStats | null; failure?: string };

async function main(): Promise<number> {
  process.chdir(ROOT);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const startedAt = new Date();
  console.log(
    `Tollgate benchmark: ${settings.connections} connections, ${settings.warmupSec} s warm-up + ${settings.durationSec} s measured per target and mode, ` +
      `${cpus().length} CPUs, Node ${process.version}`,
  );

  console.log('Preparing the benchmark database…');
  const bench: BenchDatabase = await prepareBenchDatabase(settings.databaseServerUrl);
  cleanups.push(() => bench.drop());
  console.log(`  ${bench.description}`);

  await buildNextIfNeeded(bench.config.url);

  console.log('Starting servers…');
  const services = await startServices(bench);
  const targets: Target[] = [
    { id: 'direct', label: 'direct upstream', tollgate: false, service: services.upstream },
    { id: 'bare-proxy', label: 'bare Node proxy', tollgate: false, service: services.bareProxy },
    { id: 'tollgate-lean', label: 'Tollgate (lean node:http)', tollgate: true, service: services.lean },
    { id: 'tollgate-next', label: 'Tollgate (Next.js)', tollgate: true, service: services.next },
  ];

  const tally: TollgateTally = { ok2xx: 0, sent: 0 };
  const runs: RunRecord[] = [];
  for (const target of targets) {
    for (const mode of MODES) {
      const record = await measure(target, mode, bench.apiKey, tally);
      runs.push(record);
    }
  }

  console.log('Checking billing integrity…');
  await waitForQuiet(bench.db);
  const billing = await checkBilling(bench.db, { walletAccountId: bench.walletAccountId, initialBalance: bench.initialBalance, tally });

  const rows = toRows(runs, targets);
  const stderr = Object.fromEntries(targets.filter((t) => t.tollgate).map((t) => [t.id, t.service.stderrSummary()]));
  printReport(rows, billing, stderr);

  const resultsFile = join(RESULTS_DIR, 'latest.json');
  writeFileSync(
    resultsFile,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
        settings: { ...settings, databaseServerUrl: undefined, database: bench.config.provider, request: CHAT_REQUEST },
        notes: [DB_ROUND_TRIPS_NOTE],
        results: rows.map((row) => ({ ...row, warmup: runs.find((r) => r.target === row.target && r.mode === row.mode)?.warmup ?? null })),
        billing,
        tollgateStderr: stderr,
        markdown: markdownTable(rows),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nResults written to ${resultsFile}`);

  const tollgateTrouble = runs.some((run) => {
    const target = targets.find((t) => t.id === run.target)!;
    return target.tollgate && (run.failure !== undefined || (run.measured && trouble(run.measured) > 0) || (run.warmup && trouble(run.warmup) > 0));
  });
  const unmeasured = runs.some((run) => run.failure !== undefined);
  if (tollgateTrouble) loud(['Tollgate answered with non-2xx responses, errors or bad bodies: see above. Exiting with status 1.']);
  if (!billing.ok) loud(['Billing integrity check FAILED: see above. Exiting with status 1.']);
  return tollgateTrouble || unmeasured || !billing.ok ? 1 : 0;
}

async function buildNextIfNeeded(databaseUrl: string): Promise<void> {
  if (settings.skipBuild && existsSync(join(ROOT, '.next', 'BUILD_ID'))) {
    console.log('Reusing the existing Next build (BENCH_SKIP_BUILD=1).');
    return;
  }
  if (settings.skipBuild) console.log('BENCH_SKIP_BUILD=1 but there is no .next/BUILD_ID: building anyway.');
  console.log('Building the Next app (next build)…');
  const started = performance.now();
  // DATABASE_URL points at the throwaway database so that nothing the build touches lands in the
  // developer's own data/ directory.
  const { code, output } = await runToCompletion(process.execPath, [NEXT_BIN, 'build'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', DATABASE_URL: databaseUrl },
  });
  const logFile = join(RESULTS_DIR, 'next-build.log');
  writeFileSync(logFile, output);
  if (code !== 0) throw new Error(`next build failed (exit ${code}); full log in ${logFile}. Errors reported:\n${buildErrors(output)}`);
  console.log(`  built in ${((performance.now() - started) / 1000).toFixed(1)} s (log: ${logFile})`);
}

/** The lines of a failed build that say what failed: its warnings can be longer than its errors. */
function buildErrors(output: string): string {
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const errors = lines.filter((line) => /\berror\b|failed/i.test(line));
  return (errors.length > 0 ? errors.slice(0, 30) : lines.slice(-30)).join('\n');
}

async function startServices(bench: BenchDatabase) {
  const node = process.execPath;
  // `node --import tsx` runs TypeScript in one process; the tsx CLI would add a relay process.
  const upstream = await startService({
    name: 'fake upstream',
    command: node,
    args: ['--import', 'tsx', 'bench/fake-upstream-server.ts'],
    env: { ...process.env, PORT: '0' },
    cwd: ROOT,
    timeoutMs: 30_000,
  });
  cleanups.push(() => upstream.stop());
  console.log(`  fake upstream      ${upstream.url}`);

  const bareProxy = await startService({
    name: 'bare proxy',
    command: node,
    args: ['--import', 'tsx', 'bench/bare-proxy.ts'],
    env: { ...process.env, PORT: '0', UPSTREAM_URL: upstream.url },
    cwd: ROOT,
    timeoutMs: 30_000,
  });
  cleanups.push(() => bareProxy.stop());
  console.log(`  bare proxy         ${bareProxy.url}`);

  const tollgateEnv = (port: number): NodeJS.ProcessEnv => ({
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: bench.config.url,
    OPENAI_API_KEY: 'sk-bench-not-a-real-key',
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    NEXT_TELEMETRY_DISABLED: '1',
  });

  const leanPort = await freePort();
  const lean = await startService({
    name: 'Tollgate lean server',
    command: node,
    args: ['--import', 'tsx', 'scripts/gateway-server.ts'],
    env: tollgateEnv(leanPort),
    cwd: ROOT,
    url: `http://127.0.0.1:${leanPort}`,
    timeoutMs: 60_000,
  });
  cleanups.push(() => lean.stop());
  console.log(`  Tollgate (lean)    ${lean.url}`);

  const nextPort = await freePort();
  const next = await startService({
    name: 'Tollgate on Next',
    command: node,
    args: [NEXT_BIN, 'start', '-p', String(nextPort), '-H', '127.0.0.1'],
    env: tollgateEnv(nextPort),
    cwd: ROOT,
    url: `http://127.0.0.1:${nextPort}`,
    timeoutMs: 90_000,
  });
  cleanups.push(() => next.stop());
  console.log(`  Tollgate (Next)    ${next.url}`);

  return { upstream, bareProxy, lean, next };
}

async function measure(target: Target, mode: Mode, apiKey: string, tally: TollgateTally): Promise<RunRecord> {
  const url = `${target.service.url}/v1/chat/completions`;
  const name = `${target.label}, ${mode}`;
  const smoke = await smokeTest(url, mode, apiKey).catch((error: unknown) => ({ status: 0, problem: error instanceof Error ? error.message : String(error) }));
  if (target.tollgate) {
    tally.sent += 1;
    if (smoke.status >= 200 && smoke.status < 300) tally.ok2xx += 1;
  }
  if (smoke.problem) {
    loud([`${name}: the smoke request failed, not measuring it.`, smoke.problem, ...serverTail(target)]);
    return { target: target.id, mode, warmup: null, measured: null, failure: smoke.problem };
  }

  const load = (durationSec: number) =>
    runLoad({
      url,
      connections: settings.connections,
      durationSec,
      body: BODIES[mode],
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      verifyBody: verifiers[mode],
    });
  const warmup = await load(settings.warmupSec);
  const measured = await load(settings.durationSec);
  if (target.tollgate) {
    for (const stats of [warmup, measured]) {
      tally.ok2xx += stats.ok2xx;
      tally.sent += stats.sent;
    }
  }

  console.log(
    `  ${name.padEnd(42)} ${Math.round(measured.rps).toString().padStart(6)} req/s  p50 ${measured.latencyMs.p50.toFixed(2).padStart(6)} ms  p99 ${measured.latencyMs.p99
      .toFixed(2)
      .padStart(6)} ms  (${measured.ok2xx} × 2xx)`,
  );
  for (const [phase, stats] of [['warm-up', warmup], ['measured run', measured]] as const) {
    if (trouble(stats) > 0) loud([`${name} (${phase}): ${describeTrouble(stats)}`, ...serverTail(target)]);
  }
  return { target: target.id, mode, warmup, measured };
}

function serverTail(target: Target): string[] {
  const lines = target.service.recentOutput().slice(-15);
  return lines.length ? [`last output of ${target.service.name}:`, ...lines.map((line) => `  ${line}`)] : [];
}

function toRows(runs: RunRecord[], targets: Target[]): ResultRow[] {
  return runs.map((run) => {
    const target = targets.find((t) => t.id === run.target)!;
    const baseline = runs.find((r) => r.target === 'direct' && r.mode === run.mode)?.measured;
    const stats = run.measured;
    const delta = (pick: 'p50' | 'p99') => (run.target === 'direct' ? null : stats && baseline ? stats.latencyMs[pick] - baseline.latencyMs[pick] : NaN);
    return { target: run.target, label: target.label, mode: run.mode, stats, failure: run.failure, addedP50Ms: delta('p50'), addedP99Ms: delta('p99') };
  });
}

function printReport(rows: ResultRow[], billing: BillingCheck, stderr: Record<string, StderrMessage[]>): void {
  console.log(`\n${consoleTable(rows)}`);
  console.log(`\n+p50/+p99: latency added over the direct upstream in the same mode.`);
  console.log(`Note: ${DB_ROUND_TRIPS_NOTE}`);
  for (const [id, messages] of Object.entries(stderr)) {
    if (messages.length === 0) continue;
    console.log(`Note: ${id} logged to stderr during the run (requests cut off when a run stopped log a warning):`);
    for (const { message, count, example } of messages.slice(0, 8)) {
      console.log(`  ${String(count).padStart(6)} × ${message}`);
      if (message.startsWith('error')) console.log(`           e.g. ${example}`);
    }
  }

  const statuses = Object.entries(billing.usageRowsByStatus)
    .map(([status, count]) => `${status} ${count}`)
    .join(', ');
  console.log('\nBilling integrity');
  console.log(`  usage rows: ${billing.usageRows} (${statuses || 'none'})`);
  console.log(
    `  Tollgate 2xx responses received: ${billing.tollgate2xx}; requests sent: ${billing.tollgateSent} ` +
      `(the difference is requests cut off in flight when a run stopped; each may or may not have been billed)`,
  );
  console.log(`  wallet debited ${billing.walletSpentMicros} micro-USD; usage rows add up to ${billing.usageCostMicros} micro-USD`);
  console.log(`  pending holds: ${billing.pendingHolds}; ledger audit: ${billing.auditOk ? 'ok' : `FAILED (${billing.auditProblems.length} problems)`}`);
  console.log(`  => ${billing.ok ? 'OK: every 2xx answer billed once, nothing billed without a request, ledger balanced' : 'FAILED'}`);
  for (const failure of billing.failures) console.log(`     - ${failure}`);

  console.log('\nMarkdown (for the README):\n');
  console.log(markdownTable(rows));
  console.log(
    `\n${settings.connections} connections, ${settings.durationSec} s per row after a ${settings.warmupSec} s warm-up, fake upstream with 0 ms latency, ` +
      `${cpus().length} CPUs shared by the load generator, the upstream and the server under test.`,
  );
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  loud(['The benchmark failed:', ...(error instanceof Error ? (error.stack ?? error.message) : String(error)).split('\n')]);
} finally {
  await cleanup();
}
process.exit(exitCode);
