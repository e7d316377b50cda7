/*
 * lib/clock.ts keeps the Date the process started with, when it is imported before Next installs
 * its wrapper around the global Date (scripts/server.ts does so). The wrapper reads Next's
 * work-unit AsyncLocalStorage on every `new Date()` and `Date.now()`: counting those reads tells
 * which constructor made a date. Each case runs in a fresh Node process, whose global Date is its own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(order: 'clock-first' | 'next-first'): { patched: boolean; viaGlobal: number; viaClock: number; isDate: boolean; sameTime: boolean } {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(`${ROOT}package.json`)});
    const before = Date;
    let clock;
    if (${JSON.stringify(order)} === 'clock-first') clock = await import(${JSON.stringify(`${ROOT}lib/clock.ts`)});
    require('next/dist/server/node-environment');
    if (!clock) clock = await import(${JSON.stringify(`${ROOT}lib/clock.ts`)});
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
  it("imported before Next, makes dates without Next's Date wrapper; they are ordinary Dates", () => {
    const result = run('clock-first');
    // The wrapper is in place and reads its storage for the global Date…
    expect(result.patched).toBe(true);
    expect(result.viaGlobal).toBeGreaterThanOrEqual(2);
    // …and never for the clock's.
    expect(result.viaClock).toBe(0);
    expect(result.isDate).toBe(true);
    expect(result.sameTime).toBe(true);
  });

  it("imported after Next, keeps Next's wrapper (correct, only slower)", () => {
    const result = run('next-first');
    expect(result.patched).toBe(true);
    expect(result.viaClock).toBeGreaterThanOrEqual(2);
    expect(result.isDate).toBe(true);
  });
});
