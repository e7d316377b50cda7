// `npm run bench:profile`: where the gateway's CPU goes under load. Starts the fake upstream and
// the lean gateway server (scripts/gateway-server.ts: the same /v1 code `npm start` serves,
// without Next's build) under `node --cpu-prof`, drives it with the bench's load generator, then
// reads the V8 profile and prints self time by function and by package, so that an optimization
// starts from a measurement rather than a guess.
//
//   PROFILE_MODE=non-streaming|streaming   (default non-streaming)
//   PROFILE_SEC=12                         measured seconds (after a 3 s warm-up, not profiled apart)
//   PROFILE_CONNECTIONS=16
//   BENCH_DATABASE_URL=postgresql://…      profile on a fresh PostgreSQL database instead of SQLite
//   PROFILE_TOP=40                         rows printed per table
// The raw profile stays in bench/results/profile/ for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareBenchDatabase } from './support/database';
import { freePort, startService } from './support/children';
import { runLoad } from './support/load';
import { CpuMeter, postgresBackendTicks, treeTicks, clockTicksPerSecond } from './support/procs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'results', 'profile');
const mode = process.env.PROFILE_MODE === 'streaming' ? 'streaming' : 'non-streaming';
const seconds = Number(process.env.PROFILE_SEC ?? 12);
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 16);
const top = Number(process.env.PROFILE_TOP ?? 40);

const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 64 };
const body = JSON.stringify(mode === 'streaming' ? { ...request, stream: true, stream_options: { include_usage: true } } : request);

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

/** Groups a script URL into the part of the stack it belongs to: our code by file, dependencies by package. */
function owner(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/');
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const local = url.indexOf(ROOT);
  return local === -1 ? url : url.slice(local + ROOT.length + 1);
}

/** /proc/<pid>/io: the process's read and write system calls and bytes (all threads). */
function processIo(pid: number): Record<string, number> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map((line) => {
    const [name, value] = line.split(':');
    return [name!.trim(), Number(value)];
  }));
}

function table(title: string, totals: Map<string, number>, all: number): void {
  console.log(`\n${title}`);
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, us] of rows) console.log(`  ${((100 * us) / all).toFixed(1).padStart(5)}%  ${name}`);
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  for (const file of readdirSync(OUT)) rmSync(join(OUT, file));
  const bench = await prepareBenchDatabase(process.env.BENCH_DATABASE_URL?.trim() || undefined);
  const upstream = await startService({ name: 'fake upstream', command: process.execPath, args: ['--import', 'tsx', 'bench/fake-upstream-server.ts'], env: { ...process.env, PORT: '0' }, cwd: ROOT, timeoutMs: 30_000 });
  const port = await freePort();
  const gateway = await startService({
    name: 'gateway',
    command: process.execPath,
    args: ['--cpu-prof', `--cpu-prof-dir=${OUT}`, '--import', 'tsx', 'scripts/gateway-server.ts'],
    env: { ...process.env, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: bench.config.url, OPENAI_API_KEY: 'sk-bench-not-a-real-key', OPENAI_BASE_URL: `${upstream.url}/v1`, LOG_LEVEL: 'warn' },
    cwd: ROOT,
    url: `http://127.0.0.1:${port}`,
    timeoutMs: 60_000,
  });
  try {
    const load = { url: `${gateway.url}/v1/chat/completions`, connections, body, headers: { 'content-type': 'application/json', authorization: `Bearer ${bench.apiKey}` }, expect: mode === 'streaming' ? 'data: [DONE]' : '"choices"' };
    await runLoad({ ...load, durationSec: 3 });
    const before = [...treeTicks(gateway.pid).values()].reduce((a, b) => a + b, 0);
    const ioBefore = processIo(gateway.pid);
    // On PostgreSQL part of a call's CPU is the database's own (its backends, outside the tree).
    const database = bench.config.provider === 'postgresql' ? decodeURIComponent(new URL(bench.config.url).pathname.slice(1)) : null;
    const databaseCpu = database ? new CpuMeter(() => postgresBackendTicks(database)) : null;
    const sampler = databaseCpu ? setInterval(() => databaseCpu.sample(), 1_000) : null;
    const stats = await runLoad({ ...load, durationSec: seconds });
    if (sampler) clearInterval(sampler);
    const ioAfter = processIo(gateway.pid);
    const after = [...treeTicks(gateway.pid).values()].reduce((a, b) => a + b, 0);
    const cpuUs = ((after - before) / clockTicksPerSecond()) * 1e6;
    const per = (field: string) => ((ioAfter[field] ?? 0) - (ioBefore[field] ?? 0)) / stats.ok2xx;
    const databaseUs = databaseCpu ? ` + ${Math.round((databaseCpu.seconds() * 1e6) / stats.ok2xx)} µs in PostgreSQL` : '';
    console.log(`${mode}, c=${connections}: ${Math.round(stats.rps)} req/s, ${Math.round(cpuUs / stats.ok2xx)} µs CPU/req${databaseUs}, non-2xx ${stats.non2xx}, errors ${stats.errors}`);
    // Writes are most of what SQLite costs here: the log's frames, and any temporary file.
    console.log(`  per request: ${per('syscw').toFixed(1)} write system calls, ${(per('wchar') / 1024).toFixed(1)} KiB written, ${per('syscr').toFixed(1)} read calls`);
  } finally {
    await gateway.stop();
    await upstream.stop();
    await bench.drop();
  }

  const file = readdirSync(OUT).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error('the gateway wrote no .cpuprofile');
  const profile = JSON.parse(readFileSync(join(OUT, file), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // The server stops right after the measured load: its last `seconds` are the window. Start-up
  // (module loading, the warm-up's first compilations) stays out of the tables.
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
  const windowStart = total - seconds * 1e6;
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  const byArea = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  let elapsed = 0;
  let all = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    elapsed += us;
    if (elapsed < windowStart) return;
    all += us;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = owner(url);
    add(byFunction, `${functionName || '(anonymous)'}  ${where}${url ? `:${lineNumber + 1}` : ''}`, us);
    add(byOwner, where, us);
    add(byArea, area(id, byId, parent), us);
  });
  console.log(`profile: ${join(OUT, file)} (tables: the last ${seconds} s, the measured window)`);
  table('Inclusive time by area (the first area found walking up from each sample)', byArea, all);
  table('Self time by package or file', byOwner, all);
  table('Self time by function', byFunction, all);
}

/** The parts of a request's life, matched on a stack frame's function or script. */
const AREAS: Array<[string, (functionName: string, url: string) => boolean]> = [
  ['SQL (SQLite statements, commits)', (_, url) => url.includes('sqlite-runner')],
  ['SQL (PostgreSQL driver)', (_, url) => url.includes('/pg/') || url.includes('pg-protocol') || url.includes('adapter-pg')],
  ['upstream call (undici, provider)', (_, url) => url.includes('undici') || url.includes('lib/providers/')],
  ['token counting', (_, url) => url.includes('gpt-tokenizer') || url.includes('gateway/tokens')],
  ['validation (zod)', (_, url) => url.includes('/zod/')],
  ['HTTP server (parse, respond)', (_, url) => url.includes('node:_http_server') || url.includes('_http_incoming') || url.includes('server/node-server')],
  ['socket writes', (name, url) => url.includes('_http_outgoing') || url.includes('node:net') || name === 'writev' || name === 'writeBuffer' || name === 'writeUtf8String'],
  ['JSON', (name, url) => name === 'parse' || name === 'stringify' || url.includes('http/json')],
  ['gateway and ledger code', (_, url) => url.includes('lib/gateway/') || url.includes('lib/ledger/') || url.includes('lib/http/')],
];

function area(id: number, byId: Map<number, ProfileNode>, parent: Map<number, number>): string {
  const leaf = byId.get(id)!.callFrame.functionName;
  if (leaf === '(idle)') return 'idle (waiting for I/O)';
  if (leaf === '(garbage collector)') return 'garbage collection';
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const { functionName, url } = byId.get(current)!.callFrame;
    for (const [name, matches] of AREAS) if (matches(functionName, url)) return name;
  }
  return 'other (Node internals, microtasks, …)';
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
