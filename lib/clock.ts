/**
 * The wall clock of the gateway's hot path.
 *
 * Next's server replaces the global `Date` (and `Date.now`) with a wrapper that, on each call,
 * reads two of its AsyncLocalStorages to tell whether a prerender is observing the clock (for
 * `cacheComponents`, which this app does not use), and builds each date through Reflect.construct
 * with itself as `new.target`, so the dates it makes have a hidden class of their own and every
 * function that formats both kinds turns polymorphic. In the app's server that was ~3% of a
 * gateway call's CPU: the wrapper's own time and slower date formatting in the SQL runner.
 *
 * So the app's server records the Date the process started with before Next loads
 * (lib/server/keep-original-date.ts, imported first by scripts/server.ts), and the clock uses it.
 * Anywhere else (the lean server, scripts, tests) the clock reads the global Date at each call, so
 * a test that fakes the clock (vi.useFakeTimers) fakes this one too. The dates made here are
 * ordinary: `instanceof Date` holds with either constructor (Next's wrapper shares Date's prototype).
 */
const ORIGINAL_DATE = Symbol.for('tollgate.clock.Date');
const holder = globalThis as typeof globalThis & { [ORIGINAL_DATE]?: DateConstructor };

/** Records the global Date as it is now for the clock to use from then on (lib/server/keep-original-date.ts). */
export function keepOriginalDate(): void {
  holder[ORIGINAL_DATE] ??= Date;
}

/** The current time, as a Date. */
export function now(): Date {
  return new (holder[ORIGINAL_DATE] ?? Date)();
}

/** The current time in milliseconds since the epoch (Date.now()). */
export function nowMs(): number {
  return (holder[ORIGINAL_DATE] ?? Date).now();
}

/** The Date at `ms` milliseconds since the epoch. */
export function dateAt(ms: number): Date {
  return new (holder[ORIGINAL_DATE] ?? Date)(ms);
}
