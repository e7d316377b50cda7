// Tables for the terminal and for the README, from one run's rows.
import type { LoadStats } from './load';

export type Mode = 'non-streaming' | 'streaming';

export type ResultRow = {
  target: string;
  label: string;
  mode: Mode;
  /** Null when the target could not be measured (see `failure`). */
  stats: LoadStats | null;
  failure?: string;
  /** Milliseconds added over the direct upstream in the same mode; null for the baseline itself. */
  addedP50Ms: number | null;
  addedP99Ms: number | null;
};

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');
const added = (value: number | null) => (value === null ? '—' : Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(2)}` : 'n/a');
const rate = (value: number) => Math.round(value).toLocaleString('en-US');

function cells(row: ResultRow): string[] {
  const s = row.stats;
  if (!s) return [row.label, row.mode, 'FAILED', '', '', '', '', row.failure ?? ''];
  const trouble = s.non2xx + s.errors + s.mismatches;
  const problems = trouble === 0 ? 'none' : `non-2xx ${s.non2xx}, errors ${s.errors}, bad bodies ${s.mismatches}`;
  return [row.label, row.mode, rate(s.rps), ms(s.latencyMs.p50), ms(s.latencyMs.p99), added(row.addedP50Ms), added(row.addedP99Ms), problems];
}

const HEADERS = ['target', 'mode', 'req/s', 'p50 ms', 'p99 ms', '+p50 ms', '+p99 ms', 'problems'];
// Numbers right-aligned, words left-aligned.
const RIGHT = [false, false, true, true, true, true, true, false];

export function consoleTable(rows: ResultRow[]): string {
  const body = rows.map(cells);
  const widths = HEADERS.map((header, i) => Math.max(header.length, ...body.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (RIGHT[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(rows: ResultRow[]): string {
  const header = ['Target', 'Mode', 'req/s', 'p50 (ms)', 'p99 (ms)', 'added p50 (ms)', 'added p99 (ms)'];
  const align = ['---', '---', '--:', '--:', '--:', '--:', '--:'];
  const lines = [header, align, ...rows.map((row) => cells(row).slice(0, header.length))];
  return lines.map((row) => `| ${row.join(' | ')} |`).join('\n');
}
