// What the servers under test cost the machine, read from Linux's /proc: CPU time (utime + stime
// from /proc/<pid>/stat, in clock ticks) and resident memory (VmRSS, split into its anonymous and
// file-backed parts, from /proc/<pid>/status).
//
// A server started through the tsx CLI (`node_modules/.bin/tsx scripts/server.ts`, what `npm start`
// ran until round 20; it runs `node --import tsx` now) is two processes: the tsx CLI, which only
// relays signals, and the node process it spawns with tsx's loader, which runs the server. So the
// bench never trusts the pid it spawned:
// - CPU is summed over the whole process tree under it (the relay idles; a helper process a
//   framework might fork would still be counted), sampled by a CpuMeter;
// - RSS is read from the process that owns the listening socket (found through
//   /proc/net/tcp{,6} and each process's fd links), falling back to the deepest descendant.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`: 100 on every Linux here; read once. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export function procAvailable(): boolean {
  try {
    readFileSync('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
}

type Stat = { pid: number; ppid: number; ticks: number };

/** Fields of /proc/<pid>/stat after the command name, which is in parentheses and may hold spaces. */
function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

function allStats(): Stat[] {
  const stats: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.push(stat);
  }
  return stats;
}

/** The root and every live process under it, parents before children (depth recorded). */
export function processTree(root: number): Array<{ pid: number; depth: number; ticks: number }> {
  const stats = allStats();
  const children = new Map<number, Stat[]>();
  for (const stat of stats) {
    const list = children.get(stat.ppid);
    if (list) list.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  const rootStat = stats.find((s) => s.pid === root);
  if (!rootStat) return [];
  const out: Array<{ pid: number; depth: number; ticks: number }> = [];
  const queue: Array<{ stat: Stat; depth: number }> = [{ stat: rootStat, depth: 0 }];
  while (queue.length > 0) {
    const { stat, depth } = queue.shift()!;
    out.push({ pid: stat.pid, depth, ticks: stat.ticks });
    for (const child of children.get(stat.pid) ?? []) queue.push({ stat: child, depth: depth + 1 });
  }
  return out;
}

/** CPU ticks used so far by each live process of a tree. */
export function treeTicks(root: number): Map<number, number> {
  return new Map(processTree(root).map((proc) => [proc.pid, proc.ticks]));
}

/**
 * CPU ticks used so far by each live PostgreSQL backend serving one database: on PostgreSQL part
 * of every request's cost runs there, outside the server's process tree. A backend's process title
 * (/proc/<pid>/cmdline) is "postgres: [<cluster>:] <user> <database> <client> <state>"; the bench
 * database's name is random, so a title with it as a word is one of its own.
 */
export function postgresBackendTicks(database: string): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!title.startsWith('postgres: ') || !title.split(/[\s\0]+/).includes(database)) continue;
    const stat = readStat(Number(name));
    if (stat) ticks.set(stat.pid, stat.ticks);
  }
  return ticks;
}

/**
 * CPU used by a changing set of processes over a window. A process's counters vanish with it, so
 * a plain "sum now minus sum before" goes wrong (even negative) when one exits, e.g. a database
 * backend its pool closes: the meter adds each process's growth between samples instead, a
 * process first seen counting whole (it started since the last sample). Sample about once a
 * second; what an exiting process used since its last sample is lost.
 */
export class CpuMeter {
  private last: Map<number, number>;
  private ticks = 0;

  constructor(private readonly read: () => Map<number, number>) {
    this.last = read();
  }

  sample(): void {
    const now = this.read();
    for (const [pid, ticks] of now) {
      const before = this.last.get(pid);
      this.ticks += before === undefined ? ticks : Math.max(0, ticks - before);
    }
    this.last = now;
  }

  /** CPU seconds since the meter was made, sampling once more first. */
  seconds(): number {
    this.sample();
    return this.ticks / clockTicksPerSecond();
  }
}

/**
 * CPU seconds the whole machine has spent busy in processes (user, nice, system, and steal: time
 * the hypervisor gave to other guests), from the first line of /proc/stat. Interrupt and softirq
 * time are left out: on loopback most of it is the bench's own network traffic, which no process
 * is charged for. Minus what the bench's process tree used over the same window, this is how
 * much CPU other work took from the measurement.
 */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (steal ?? 0)) / clockTicksPerSecond();
}

/**
 * Other work on the machine over a window, in cores: what the machine was busy with, less this
 * bench's process tree and the database's backends (which the bench's load drives). Like a
 * CpuMeter, it counts a process of the tree that exits mid-window only up to its last sample:
 * measure() samples every second, the paired windows (whose servers all outlive them) at the end.
 */
export class OtherLoad {
  readonly #bench = new CpuMeter(() => treeTicks(process.pid));
  readonly #machine0 = machineBusySeconds();
  readonly #wall0 = performance.now();

  sample(): void {
    this.#bench.sample();
  }

  /** `databaseSeconds`: the database's CPU over the same window (0 on SQLite). */
  cores(databaseSeconds: number): number {
    const busy = machineBusySeconds() - this.#machine0 - this.#bench.seconds() - databaseSeconds;
    return Math.max(0, busy) / ((performance.now() - this.#wall0) / 1000);
  }
}

/** Socket inodes listening on this TCP port (IPv4 and IPv6). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT"; st 0A is LISTEN; inode is column 10.
      if (cols.length > 9 && cols[1]!.endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(cols[9]!);
    }
  }
  return inodes;
}

function ownsSocket(pid: number, inodes: Set<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match && inodes.has(match[1]!)) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * The process that serves: the one in the tree that holds the listening socket, or else the
 * deepest descendant (the tsx CLI's child), or the root itself.
 */
export function servingPid(root: number, port: number): { pid: number; how: string } {
  const tree = processTree(root);
  const inodes = listeningInodes(port);
  if (inodes.size > 0) {
    // Deepest first: a parent that forked after listening would share the socket.
    for (const proc of [...tree].sort((a, b) => b.depth - a.depth)) {
      if (ownsSocket(proc.pid, inodes)) return { pid: proc.pid, how: proc.pid === root ? 'the spawned process holds the listening socket' : `child at depth ${proc.depth} holds the listening socket` };
    }
  }
  const deepest = [...tree].sort((a, b) => b.depth - a.depth)[0];
  if (deepest && deepest.pid !== root) return { pid: deepest.pid, how: `deepest descendant (depth ${deepest.depth}); listening socket not found` };
  return { pid: root, how: 'the spawned process (no descendants, listening socket not found)' };
}

export type Memory = {
  /** VmRSS: what the #12 target is about. */
  rssKiB: number;
  /** RssAnon: heap, stacks, the JavaScript heap: where a leak shows. */
  anonKiB: number;
  /** RssFile + RssShmem: mapped files (code, and SQLite's memory-mapped database when enabled). */
  fileKiB: number;
};

/** Resident memory in KiB from /proc/<pid>/status, or null when the process is gone. */
export function memory(pid: number): Memory | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
  const rssKiB = field('VmRSS');
  if (!Number.isFinite(rssKiB)) return null;
  return { rssKiB, anonKiB: field('RssAnon'), fileKiB: field('RssFile') + field('RssShmem') };
}
