// Child processes for the benchmark: each server runs in its own process group, so that stopping
// it also stops whatever it spawned, and every group still alive is killed when the benchmark
// exits for any reason.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitHealthy } from '../../test/helpers/ports';

export type Service = {
  name: string;
  url: string;
  /** The process spawned (for a server started through the tsx CLI, its relay: see procs.ts). */
  pid: number;
  /** The last lines the process printed (stdout and stderr), for explaining a failure. */
  recentOutput(): string[];
  /** What the process wrote to stderr (warnings and errors under LOG_LEVEL=warn), counted by message. */
  stderrSummary(): StderrMessage[];
  stop(): Promise<void>;
};

/** One kind of stderr line, with the first full line of that kind as an example. */
export type StderrMessage = { message: string; count: number; example: string };

export type ServiceSpec = {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where the service listens; omitted when it prints `READY <url>` on stdout instead. */
  url?: string;
  /** How long to wait for `GET /health` to answer 200. */
  timeoutMs: number;
};

const OUTPUT_LINES_KEPT = 200;
const running = new Set<ChildProcess>();

/** Kills every process group still running; synchronous, so it also works in an 'exit' handler. */
export function killAllNow(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
  running.clear();
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** A port that was free a moment ago (for servers that want a port number, not 0): the tests' own. */
export { freePort } from '../../test/helpers/ports';

export async function startService(spec: ServiceSpec): Promise<Service> {
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: one signal to -pid reaches the server and anything it forked.
    detached: true,
  });
  running.add(child);

  const lines: string[] = [];
  const stderrMessages = new Map<string, StderrMessage>();
  let announcedUrl: ((url: string) => void) | undefined;
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
  };
  const collect = (stream: NodeJS.ReadableStream, isStderr: boolean) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (isStderr && line.trim()) {
          const message = logMessage(line);
          const seen = stderrMessages.get(message);
          if (seen) seen.count += 1;
          else stderrMessages.set(message, { message, count: 1, example: line.length > 1_500 ? `${line.slice(0, 1_500)}…` : line });
        }
        remember(isStderr ? `[stderr] ${line}` : line);
        const ready = /^READY (\S+)/.exec(line);
        if (ready?.[1] && !isStderr) announcedUrl?.(ready[1]);
      }
    });
  };
  collect(child.stdout!, false);
  collect(child.stderr!, true);

  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? (signal ? 128 : null));
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const describeExit = async () => `${spec.name} exited (code ${await exited}) before it was ready:\n${lines.slice(-40).join('\n')}`;

  const stop = async () => {
    if (hasExited) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    // The leader is gone; make sure nothing it forked outlives it.
    killGroup(child, 'SIGKILL');
  };

  try {
    const url =
      spec.url ??
      (await Promise.race([
        new Promise<string>((resolve) => (announcedUrl = resolve)),
        exited.then(async () => Promise.reject(new Error(await describeExit()))),
        timeout(spec.timeoutMs, `${spec.name} did not print READY within ${spec.timeoutMs} ms`),
      ]));
    await waitHealthy(url, child, () => `${spec.name}'s last lines:\n${lines.slice(-40).join('\n')}`, spec.timeoutMs);
    return {
      name: spec.name,
      url,
      pid: child.pid!,
      recentOutput: () => [...lines],
      stderrSummary: () => [...stderrMessages.values()].map((m) => ({ ...m })).sort((a, b) => b.count - a.count),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Tollgate logs one JSON object a line; its level and message identify the kind of event. */
function logMessage(line: string): string {
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed !== null && typeof parsed === 'object' && 'message' in parsed) {
      const { level, message } = parsed as { level?: unknown; message?: unknown };
      return `${typeof level === 'string' ? level : 'log'}: ${String(message)}`;
    }
  } catch {
    // not JSON: a plain line
  }
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}

function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

/** Runs a command to completion (e.g. `next build`), keeping its output for the caller. */
export async function runToCompletion(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; output: string }> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  const chunks: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  const code = await new Promise<number>((resolve) => {
    child.once('exit', (exitCode, signal) => {
      running.delete(child);
      resolve(exitCode ?? (signal ? 128 : 1));
    });
  });
  return { code, output: chunks.join('') };
}
