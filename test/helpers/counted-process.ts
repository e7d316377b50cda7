import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PRELOAD = pathToFileURL(fileURLToPath(new URL('./count-per-call.mjs', import.meta.url))).href;

/** What the preload (count-per-call.mjs) has counted in the process so far. */
export type Counts = { names: Map<string, number>; promises: number };

export type CountedProcess = { child: ChildProcess; counts(): Promise<Counts>; output(): string };

/** Starts `node --import count-per-call.mjs …args` in the repository; `counts()` asks it for its counts so far. */
export function startCounted(args: string[], env: NodeJS.ProcessEnv): CountedProcess {
  const child = spawn(process.execPath, ['--import', PRELOAD, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const counts = async (): Promise<Counts> => {
    const before = output.length;
    child.kill('SIGUSR2');
    const deadline = Date.now() + 5_000;
    for (;;) {
      const found = parseCounts(output.slice(before));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no counts from the process:\n${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, counts, output: () => output };
}

const REPORT = /function-names (\{.*\})\npromises (\d+)\n/g;

/** The first complete report in a process's output, if there is one. */
function parseCounts(output: string): Counts | null {
  return parseReports(output)[0] ?? null;
}

/** Every complete report in a process's output, in order. */
function parseReports(output: string): Counts[] {
  return [...output.matchAll(REPORT)].map((report) => ({ names: new Map(Object.entries(JSON.parse(report[1]!) as Record<string, number>)), promises: Number(report[2]) }));
}

/**
 * Runs a TypeScript module (an ES module: top-level await allowed) under tsx with the preload, to
 * its end; what it reports (it sends itself SIGUSR2) comes back in order.
 */
export async function runCountedScript(source: string): Promise<{ code: number | null; reports: Counts[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-counted-'));
  const script = join(dir, 'script.mts');
  writeFileSync(script, source);
  const { child, output } = startCounted(['--import', 'tsx', script], process.env);
  try {
    // 'close', not 'exit': its output has been read by then.
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { code, reports: parseReports(output()) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Stops a counted server that is still running. */
export async function stopCounted(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
