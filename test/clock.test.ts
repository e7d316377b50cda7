/*
 * lib/clock.ts uses the Date the process started with when lib/server/keep-original-date.ts was
 * imported before Next installed its wrapper around the global Date (scripts/server.ts does so),
 * and the global Date otherwise. The wrapper reads Next's work-unit AsyncLocalStorage on every
 * `new Date()` and `Date.now()`: counting those reads tells which constructor made a date. Those
 * cases run in fresh Node processes, whose global Date is their own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dateAt, now, nowMs } from '../lib/clock';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(order: 'kept-first' | 'not-kept'): { patched: boolean; viaGlobal: number; viaClock: number; isDate: boolean; sameTime: boolean } {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(`${ROOT}package.json`)});
    const before = Date;
    if (${JSON.stringify(order)} === 'kept-first') await import(${JSON.stringify(`${ROOT}lib/server/keep-original-date.ts`)});
    require('next/dist/server/node-environment');
    const clock = await import(${JSON.stringify(`${ROOT}lib/clock.ts`)});
    const storage = require('next/dist/server/app-render/work-unit-async-storage.external').workUnitAsyncStorage;
    let reads = 0;
    const getStore = storage.getStore.bind(storage);
    storage.getStore = () => { reads += 1; return getStore(); };
    new Date();
    Date.now();
    const viaGlobal = reads;
    reads = 0;
    const made = clock.now();
    const ms = clock.nowMs();
    clock.dateAt(0);
    const viaClock = reads;
    console.log(JSON.stringify({ patched: Date !== before, viaGlobal, viaClock, isDate: made instanceof Date && clock.dateAt(0) instanceof Date, sameTime: Math.abs(ms - Date.now()) < 60_000 }));
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (child.status !== 0) throw new Error(`the child failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ReturnType<typeof run>;
}

describe('clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("with the original Date kept before Next loaded, makes dates without Next's wrapper; they are ordinary Dates", () => {
    const result = run('kept-first');
    // The wrapper is in place and reads its storage for the global Date…
    expect(result.patched).toBe(true);
    expect(result.viaGlobal).toBeGreaterThanOrEqual(2);
    // …and never for the clock's.
    expect(result.viaClock).toBe(0);
    expect(result.isDate).toBe(true);
    expect(result.sameTime).toBe(true);
  });

  it("without it, follows the global Date: Next's wrapper (correct, only slower)", () => {
    const result = run('not-kept');
    expect(result.patched).toBe(true);
    expect(result.viaClock).toBeGreaterThanOrEqual(2);
    expect(result.isDate).toBe(true);
  });

  it('follows a faked clock, as the fault simulator fakes it across midnight', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const midnight = Date.UTC(2031, 0, 1);
    vi.setSystemTime(midnight - 1);
    expect(nowMs()).toBe(midnight - 1);
    expect(now().toISOString()).toBe('2030-12-31T23:59:59.999Z');
    vi.setSystemTime(midnight);
    expect(now().getTime()).toBe(midnight);
    expect(dateAt(5).getTime()).toBe(5);
    expect(now()).toBeInstanceOf(Date);
  });
});
