/**
 * The waitlist on the home page: an email (plus optional company and use case), stored once per
 * address. Framework-free: `createWaitlistApi({ db }).join(request)` answers a Web Request.
 */
import type { Db } from './db/client';
import { clientAddress, trustedProxies } from './http/client-address';
import { invalidRequest, tooManyRequests, parseOrThrow, prismaErrorCode } from './http/errors';
import { createGuards } from './http/guards';
import { json, readJsonBody } from './http/json';
import { newId } from './ids';
import { waitlistSchema } from './waitlist-schema';

export { waitlistSchema, type WaitlistInput } from './waitlist-schema';

export type JoinResult = { status: 'joined' | 'already_joined'; email: string };

/**
 * Adds an address once. A second sign-up with the same address (in any letter case) is not an
 * error for the visitor: it answers `already_joined` and keeps the first entry as it was.
 * WaitlistEntry has no columns for company and use case, so they go into `source` as JSON text.
 */
export async function joinWaitlist(db: Db, input: unknown): Promise<JoinResult> {
  const data = parseOrThrow(waitlistSchema, input);
  const existing = await db.waitlistEntry.findUnique({ where: { email: data.email }, select: { id: true } });
  if (existing) return { status: 'already_joined', email: data.email };
  const source = JSON.stringify({ form: 'home', ...(data.company ? { company: data.company } : {}), ...(data.use_case ? { use_case: data.use_case } : {}) });
  try {
    await db.waitlistEntry.create({ data: { id: newId('wl'), email: data.email, source } });
    return { status: 'joined', email: data.email };
  } catch (error) {
    // Two submissions racing: the unique index decides, the loser is a duplicate like any other.
    if (prismaErrorCode(error) === 'P2002') return { status: 'already_joined', email: data.email };
    throw error;
  }
}

/** A fixed-window counter per client address, in memory: enough to blunt a script, not a defence in depth. */
export class WindowLimiter {
  readonly #hits = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one hit; returns the seconds to wait when over the limit (this key's, if given), else null. */
  hit(key: string, limit = this.limit): number | null {
    const now = this.now();
    if (this.#hits.size > 10_000) for (const [k, v] of this.#hits) if (v.resetAt <= now) this.#hits.delete(k);
    const entry = this.#hits.get(key);
    if (!entry || entry.resetAt <= now) {
      this.#hits.set(key, { count: 1, resetAt: now + this.windowMs });
      return null;
    }
    entry.count += 1;
    return entry.count > limit ? Math.ceil((entry.resetAt - now) / 1000) : null;
  }
}

const MESSAGES: Record<JoinResult['status'], string> = {
  joined: "You're on the list. We'll email you when there's news.",
  already_joined: "You're already on the list — no need to sign up twice.",
};

/** WAITLIST_RATE_LIMIT sign-ups per client address per 10 minutes (default 5). */
export function waitlistRateLimit(env: Record<string, string | undefined> = process.env): number {
  const value = Number(env.WAITLIST_RATE_LIMIT ?? 5);
  return Number.isInteger(value) && value > 0 ? value : 5;
}

// When the server cannot tell clients apart (not started by Tollgate's server), every visitor shares
// the "unknown" bucket: it gets ten times the room, so one script cannot flood the table and real
// visitors are not locked out by each other.
const UNKNOWN_ADDRESS_FACTOR = 10;

export function createWaitlistApi({
  db,
  env = process.env,
  limiter = new WindowLimiter(waitlistRateLimit(env), 10 * 60_000),
}: {
  db: Db;
  env?: Record<string, string | undefined>;
  limiter?: WindowLimiter;
}) {
  const proxies = trustedProxies(env);
  return {
    /** POST /api/waitlist → 201 joined, 200 already joined, 400 invalid field, 429 too many sign-ups from one address. */
    join: createGuards({ db, env }).public(async ({ request }) => {
      const address = clientAddress(request, proxies) ?? 'unknown';
      const wait = address === 'unknown' ? limiter.hit(address, limiter.limit * UNKNOWN_ADDRESS_FACTOR) : limiter.hit(address);
      if (wait !== null) throw tooManyRequests('rate_limited', 'Too many sign-ups from this address; try again in a few minutes.', wait);
      const body = await readJsonBody(request, 16_384);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('Send a JSON object with an email.');
      const result = await joinWaitlist(db, body);
      return json({ ...result, message: MESSAGES[result.status] }, { status: result.status === 'joined' ? 201 : 200 });
    }),
  };
}
