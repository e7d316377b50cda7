import { dateAt } from '../clock';

const DAY_MS = 86_400_000;

// Every call asks for today's day and tomorrow's midnight (its reservation, its quota headers):
// the UTC day last asked for is kept with its bounds, and a date inside them is answered without
// formatting anything (toISOString per call was ~1% of the gateway's CPU).
let cachedFrom = Number.NaN;
let cachedUntil = Number.NaN;
let cachedDay = '';
let cachedMidnight = '';

/** Keeps the UTC day of `ms` (a finite time) in the cache; returns whether it could. */
function cache(date: Date): boolean {
  const ms = date.getTime();
  if (ms >= cachedFrom && ms < cachedUntil) return true;
  if (!Number.isFinite(ms)) return false;
  const from = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  cachedFrom = from;
  cachedUntil = from + DAY_MS;
  cachedDay = date.toISOString().slice(0, 10);
  cachedMidnight = dateAt(cachedUntil).toISOString();
  return true;
}

/** Daily limits reset at 00:00 UTC. */
export function utcDay(date: Date): string {
  // An invalid date throws toISOString's RangeError, as it always did.
  return cache(date) ? cachedDay : date.toISOString().slice(0, 10);
}

export function nextUtcMidnight(date: Date): Date {
  return dateAt(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1));
}

/** nextUtcMidnight(date).toISOString(), for the x-ratelimit-reset header of every call. */
export function nextUtcMidnightIso(date: Date): string {
  return cache(date) ? cachedMidnight : nextUtcMidnight(date).toISOString();
}
