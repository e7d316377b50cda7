/**
 * The wall clock of the gateway's hot path: Date as the process started.
 *
 * Next's server replaces the global `Date` (and `Date.now`) with a wrapper that, on each call,
 * reads two of its AsyncLocalStorages to tell whether a prerender is observing the clock (for
 * `cacheComponents`, which this app does not use), and builds each date through Reflect.construct
 * with itself as `new.target`, so the dates it makes have a hidden class of their own and every
 * function that formats both kinds turns polymorphic. In the app's server (scripts/server.ts, which
 * imports this module before Next) that was ~3% of a gateway call's CPU: the wrapper's own time
 * and slower date formatting for the SQL runner. The dates made here are ordinary: `instanceof Date`
 * holds with either constructor (Next's wrapper shares Date's prototype).
 *
 * Where this module is first evaluated after Next has installed its wrapper (code Next bundles into
 * its own chunks, when nothing imported it earlier), it keeps the wrapper: correct, only slower.
 */
const ORIGINAL_DATE = Symbol.for('tollgate.clock.Date');
const holder = globalThis as typeof globalThis & { [ORIGINAL_DATE]?: DateConstructor };
const OriginalDate: DateConstructor = (holder[ORIGINAL_DATE] ??= Date);

/** The current time, as a Date. */
export function now(): Date {
  return new OriginalDate();
}

/** The current time in milliseconds since the epoch (Date.now()). */
export function nowMs(): number {
  return OriginalDate.now();
}

/** The Date at `ms` milliseconds since the epoch. */
export function dateAt(ms: number): Date {
  return new OriginalDate(ms);
}
