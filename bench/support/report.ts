// Tables for the terminal and for the README (markdown), from one run's results.

export type Mode = 'non-streaming' | 'streaming';

export type Align = 'left' | 'right';
export type Table = { headers: string[]; align: Align[]; rows: string[][] };

export function consoleTable({ headers, align, rows }: Table): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (align[i] === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable({ headers, align, rows }: Table): string {
  const rule = align.map((a) => (a === 'right' ? '--:' : '---'));
  return [headers, rule, ...rows].map((row) => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`).join('\n');
}

// ---- number formats ----------------------------------------------------------------------------

const finite = (value: number | null | undefined): value is number => typeof value === 'number' && Number.isFinite(value);

export const fmt = {
  /** Milliseconds, two decimals. */
  ms: (value: number | null | undefined) => (finite(value) ? value.toFixed(2) : 'n/a'),
  /** Milliseconds added over a baseline, signed. */
  added: (value: number | null | undefined) => (finite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(2)}` : 'n/a'),
  /** Requests per second, whole, with thousands separators. */
  rate: (value: number | null | undefined) => (finite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a'),
  /** A fraction as a percentage. */
  pct: (value: number | null | undefined, digits = 1) => (finite(value) ? `${(value * 100).toFixed(digits)}%` : 'n/a'),
  /** A signed percentage change. */
  change: (value: number | null | undefined) => (finite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(1)}%` : 'n/a'),
  /** Microseconds, whole, with thousands separators. */
  us: (value: number | null | undefined) => (finite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a'),
  /** CPU cores, two decimals. */
  cores: (value: number | null | undefined) => (finite(value) ? value.toFixed(2) : 'n/a'),
  ratio: (value: number | null | undefined) => (finite(value) ? value.toFixed(2) : 'n/a'),
};
