import { dateAt, nowMs } from '../clock';
import { newId } from '../ids';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import type { GrantedCall } from '../ledger/grants';
import { DailyQuotaRefused, type DailyCounters, type DailyQuota, type HoldRef } from '../ledger/holds';
import type { Ledger } from '../ledger/ledger';
import { driverErrorKind } from '../db/sql';
import { logger } from '../logger';
import type { Micros } from '../money';
import type { KeyContext } from './auth';
import { utcDay } from './day';

/**
 * Grants (docs/grants.md): this instance reserves a slice of a busy key's wallet once and serves
 * many calls from it in memory, posting what they cost a few milliseconds later, in bulk. A call
 * drawn from a grant makes no database round trip of its own.
 *
 * What it keeps, and why:
 * - A grant is drawn on for at most `checkMs` after the key was last checked in the database (its
 *   opening reservation, then a check about that often): a revoked key, or a budget lowered below
 *   what is committed, stops every instance's grants within that time.
 * - Only keys calling at least `minRate` times a second get one: an occasional call is reserved
 *   and settled on its own, its usage row written before its answer.
 * - A grant is sized for about `spanMs` of the key's calls, and idle for `idleMs` it stops: what no
 *   call holds goes back to the wallet at the next posting, the rest once its calls have ended.
 * - Postings run every `postEveryMs`, off the calls' path; a failed one is retried as it was (a
 *   posting applies once: lib/ledger/grants.ts). Should this process die, the calls it served and
 *   had not posted are never charged, and the sweeper releases the grants' holds.
 */
export type GrantSettings = {
  /** A grant's hold lives this long past its last keep-alive: a dead instance's grants go back to the wallet after it. */
  ttlMs: number;
  checkMs: number;
  minRate: number;
  spanMs: number;
  idleMs: number;
  postEveryMs: number;
  minCalls: number;
  maxCalls: number;
};

export const GRANT_DEFAULTS: GrantSettings = { ttlMs: 30_000, checkMs: 1_000, minRate: 8, spanMs: 250, idleMs: 250, postEveryMs: 20, minCalls: 4, maxCalls: 2_048 };

/** A call's draw on a grant: given back, less what the call cost, when it ends (GrantBook.end). */
export type GrantDraw = { grant: Grant; amount: Micros; drawnAt: Date; ended: boolean };

/** Calls that were served and cannot be charged (their grant was lost, or their posting refused for good): recorded where the audit sees them. */
export type UnbilledCalls = (calls: GrantedCall[], error: unknown) => Promise<void>;

type Grant = {
  /** The grant's hold as the database has it after the last posting. */
  ref: HoldRef;
  quota: DailyQuota;
  walletAccountId: string;
  /** Drawable now: the hold less the calls in flight, the calls ended and not posted, and what is being given back. */
  free: Micros;
  size: Micros;
  inFlight: number;
  /** Calls ended, to post. */
  ended: GrantedCall[];
  /** What the calls ended and not yet posted cost (those of a posting in flight included). */
  unposted: Micros;
  /** A posting that failed, to try again exactly as it was, not before `retryAt`. */
  retry: Posting | null;
  failures: number;
  retryAt: number;
  /** The posting in flight; a check or a keep-alive may run beside it (they touch nothing a posting does). */
  posting: Promise<void> | null;
  extending: boolean;
  /** No more draws: it gives back what no call holds, and closes once no call is in flight. */
  stopped: boolean;
  /** Gone from the database (the sweeper took it): calls ending on it cannot be charged. */
  lost: boolean;
  /** The check in flight, for a draw that waits on it. */
  check: Promise<void> | null;
  checkedAt: number;
  lastDrawAt: number;
  extendedAt: number;
  /** The key's counters as the opening found them, moved by this grant's calls since. */
  counters: DailyCounters;
};

type Posting = { calls: GrantedCall[]; release: Micros; close: boolean };

type KeyGrants = {
  walletAccountId: string;
  grants: Grant[];
  opening: Promise<Grant | null> | null;
  /** After a refused opening (too little money, the key's limits): calls reserve on their own until then. */
  refusedUntil: number;
  /** The key's calls in a window of up to a second from `windowStart`, and the rate of the window before. */
  windowStart: number;
  calls: number;
  lastRate: number;
};

/** How long after a refused opening the key's calls reserve on their own. */
const REFUSED_MS = 250;
/** Most calls one posting carries. */
const POSTING_MAX_CALLS = 512;

export class GrantBook {
  readonly #ledger: Ledger;
  readonly #holdTtlMs: number;
  readonly #settings: GrantSettings;
  readonly #keys = new Map<string, KeyGrants>();
  /** A wallet's balance as the last posting on it read it (null until one has). */
  readonly #balances = new Map<string, Micros>();
  #timer: NodeJS.Timeout | null = null;
  #draining = false;
  readonly #unbilled: UnbilledCalls;

  constructor(ledger: Ledger, holdTtlMs: number, settings: Partial<GrantSettings> = {}, unbilled: UnbilledCalls = async () => undefined) {
    this.#ledger = ledger;
    this.#settings = { ...GRANT_DEFAULTS, ...settings };
    // Never longer than a call's own hold lives.
    this.#holdTtlMs = Math.min(holdTtlMs, this.#settings.ttlMs);
    this.#unbilled = unbilled;
  }

  /**
   * Draws `amount` for one call of `key` from one of its grants, opening one when the key is busy
   * enough; null when the call should reserve on its own (the key is not busy, or its wallet or
   * limits refused a grant: the call's own reservation then says why, exactly as without grants).
   */
  async draw(key: KeyContext, amount: Micros): Promise<GrantDraw | null> {
    if (this.#draining || key.keyId === null) return null;
    const t = nowMs();
    const entry = this.#entry(key.keyId, key.walletAccountId, t);
    const day = utcDay(dateAt(t));
    let grant = this.#drawable(entry, day, amount, t);
    if (!grant) {
      // One that would cover the call but is due a check (late under load): wait for the check
      // rather than reserve on the call's own while this grant holds the money.
      const due = entry.grants.find((g) => !g.stopped && g.quota.day === day && g.free >= amount);
      if (due) await (due.check ?? this.#check(due));
      else if (Math.max(entry.calls, entry.lastRate) < this.#settings.minRate || nowMs() < entry.refusedUntil) return null;
      else await this.#open(entry, key, day, amount);
      grant = this.#drawable(entry, day, amount, nowMs());
    }
    return grant ? this.#take(entry, key, grant, amount) : null;
  }

  /**
   * A call of this wallet was refused its own reservation: every grant on the wallet stops and
   * gives back what no call holds, at once. True when that freed anything, for the call to try again.
   */
  async giveBackFree(walletAccountId: string): Promise<boolean> {
    const work: Promise<void>[] = [];
    for (const entry of this.#keys.values()) {
      if (entry.walletAccountId !== walletAccountId) continue;
      for (const grant of entry.grants) {
        if (grant.free <= 0n && grant.stopped) continue;
        grant.stopped = true;
        work.push(this.#settle(entry, grant));
      }
    }
    if (work.length === 0) return false;
    await Promise.all(work);
    return true;
  }

  /** A drawn call ended: settled at `call.cost` or released. Returns the wallet's balance as this instance knows it, or null. */
  end(draw: GrantDraw, call: GrantedCall): Micros | null {
    if (draw.ended) return null;
    draw.ended = true;
    const grant = draw.grant;
    if (grant.lost) {
      logger.error('a call ended on a lost grant: it goes uncharged', { grantId: grant.ref.id, requestId: call.requestId });
      void this.#unbilled([call], new Error('grant lost'));
      return null;
    }
    grant.inFlight -= 1;
    grant.free += draw.amount - call.cost;
    grant.ended.push(call);
    grant.unposted += call.cost;
    grant.counters.spentToday += call.cost;
    if (call.status === 'SETTLED') grant.counters.requestsToday += 1;
    this.#schedule();
    return this.#balance(grant.walletAccountId);
  }

  /** Gives a draw back whole, for a call that will reserve on its own after all (a seller pool serves it). */
  giveBack(draw: GrantDraw): void {
    giveBackDraw(draw);
  }

  /** The key's counters for a drawn call's headers: as the grant's opening found them, moved by its calls since. */
  counters(draw: GrantDraw): DailyCounters {
    const { requestsToday, committedToday, spentToday } = draw.grant.counters;
    return { requestsToday, committedToday, spentToday };
  }

  /**
   * Stops drawing, waits (up to `timeoutMs`) for the calls in flight, and posts and closes every
   * grant: before the process exits, so that what it served is charged.
   */
  async drain(timeoutMs = 10_000): Promise<void> {
    this.#draining = true;
    const deadline = nowMs() + timeoutMs;
    for (const grant of this.#all()) grant.stopped = true;
    while (this.#all().length > 0 && nowMs() < deadline) {
      await this.#tick();
      if (this.#all().length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const left = this.#all();
    if (left.length > 0) logger.error('grants still open at shutdown: the sweeper releases them, and their unposted calls go uncharged', { grants: left.map((g) => g.ref.id) });
  }

  /** How many grants are open: for tests and the health of a shutdown. */
  get open(): number {
    return this.#all().length;
  }

  #entry(keyId: string, walletAccountId: string, t: number): KeyGrants {
    let entry = this.#keys.get(keyId);
    if (!entry) {
      entry = { walletAccountId, grants: [], opening: null, refusedUntil: 0, windowStart: t, calls: 0, lastRate: 0 };
      this.#keys.set(keyId, entry);
    }
    if (t - entry.windowStart >= 1_000) {
      entry.lastRate = (entry.calls * 1_000) / (t - entry.windowStart);
      entry.windowStart = t;
      entry.calls = 0;
    }
    entry.calls += 1;
    return entry;
  }

  #drawable(entry: KeyGrants, day: string, amount: Micros, t: number): Grant | null {
    for (const grant of entry.grants) {
      if (!grant.stopped && grant.quota.day === day && t - grant.checkedAt < this.#settings.checkMs && grant.free >= amount) return grant;
    }
    return null;
  }

  #take(entry: KeyGrants, key: KeyContext, grant: Grant, amount: Micros): GrantDraw {
    const t = nowMs();
    grant.free -= amount;
    grant.inFlight += 1;
    grant.lastDrawAt = t;
    // The next grant opens while this one still has a quarter left, so that no call waits for it.
    if (grant.free * 4n < grant.size && !entry.opening && t >= entry.refusedUntil && !entry.grants.some((g) => g !== grant && !g.stopped && g.free * 4n >= g.size)) {
      void this.#open(entry, key, grant.quota.day, amount);
    }
    return { grant, amount, drawnAt: dateAt(t), ended: false };
  }

  #open(entry: KeyGrants, key: KeyContext, day: string, amount: Micros): Promise<Grant | null> {
    entry.opening ??= this.#reserve(entry, key, day, amount).finally(() => {
      entry.opening = null;
    });
    return entry.opening;
  }

  async #reserve(entry: KeyGrants, key: KeyContext, day: string, amount: Micros): Promise<Grant | null> {
    // Calls a second: the last window's, or this one's so far (over at least a tenth of a second).
    const rate = Math.max(entry.lastRate, (entry.calls * 1_000) / Math.max(nowMs() - entry.windowStart, 100));
    const calls = Math.min(this.#settings.maxCalls, Math.max(this.#settings.minCalls, Math.ceil((rate * this.#settings.spanMs) / 1_000)));
    const size = amount * BigInt(calls);
    const quota = { keyId: key.keyId!, day };
    try {
      const reserved = await this.#ledger.reserve({
        idempotencyKey: `grant:${newId('grt')}`,
        sources: [key.walletAccountId],
        creditAccountId: SYSTEM_ACCOUNTS.revenue.id,
        amount: size,
        ttlMs: this.#holdTtlMs,
        memo: `grant for ${calls} calls of key ${key.keyId}`,
        quota,
      });
      const hold = reserved.holds[0]!;
      const t = nowMs();
      const grant: Grant = {
        ref: { id: hold.id, debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId, amount: hold.amount },
        quota,
        walletAccountId: key.walletAccountId,
        free: hold.amount,
        size: hold.amount,
        inFlight: 0,
        ended: [],
        unposted: 0n,
        retry: null,
        failures: 0,
        retryAt: 0,
        posting: null,
        extending: false,
        stopped: false,
        lost: false,
        check: null,
        checkedAt: t,
        lastDrawAt: t,
        extendedAt: t,
        counters: reserved.counters ?? { requestsToday: 0, committedToday: 0n, spentToday: 0n },
      };
      entry.grants.push(grant);
      this.#schedule();
      return grant;
    } catch (error) {
      entry.refusedUntil = nowMs() + REFUSED_MS;
      // Too little money or the key's limits: its calls reserve on their own, which says which.
      if (!(error instanceof LedgerError) && !(error instanceof DailyQuotaRefused)) logger.warn('could not open a grant', { keyId: key.keyId, error });
      return null;
    }
  }

  #balance(walletAccountId: string): Micros | null {
    const known = this.#balances.get(walletAccountId);
    if (known === undefined) return null;
    let unposted = 0n;
    for (const entry of this.#keys.values()) {
      for (const grant of entry.grants) if (grant.walletAccountId === walletAccountId) unposted += grant.unposted;
    }
    return known - unposted;
  }

  #all(): Grant[] {
    const all: Grant[] = [];
    for (const entry of this.#keys.values()) all.push(...entry.grants);
    return all;
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), this.#settings.postEveryMs);
    this.#timer.unref();
  }

  /** One round of the background work: postings, give-backs, closings, checks and keep-alives. */
  async #tick(): Promise<void> {
    const work: Promise<void>[] = [];
    const t = nowMs();
    const today = utcDay(dateAt(t));
    for (const [keyId, entry] of this.#keys) {
      for (const grant of entry.grants) {
        if (!grant.check && !grant.stopped && t - grant.checkedAt >= this.#settings.checkMs / 2) work.push(this.#check(grant));
        if (!grant.extending && t - grant.extendedAt >= this.#holdTtlMs / 3) work.push(this.#extend(grant));
        if (!grant.stopped && (t - grant.lastDrawAt >= this.#settings.idleMs || grant.quota.day !== today)) grant.stopped = true;
        if (!grant.posting && t >= grant.retryAt) work.push(this.#settle(entry, grant));
      }
      if (entry.grants.length === 0 && !entry.opening && t - entry.windowStart > 2_000) {
        this.#keys.delete(keyId);
        if (![...this.#keys.values()].some((other) => other.walletAccountId === entry.walletAccountId)) this.#balances.delete(entry.walletAccountId);
      }
    }
    if (this.#all().length === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    await Promise.all(work);
  }

  /** Runs the posting a grant is due, if any, after the one in flight. */
  async #settle(entry: KeyGrants, grant: Grant): Promise<void> {
    while (grant.posting) await grant.posting;
    const due = this.#due(grant);
    if (due) await this.#post(entry, grant, due);
  }

  /** A failed posting again as it was; else the ended calls, with what a stopped grant gives back, or its close once no call is in flight. */
  #due(grant: Grant): Posting | null {
    if (grant.retry) return grant.retry;
    if (grant.stopped && grant.inFlight === 0) {
      const calls = grant.ended.splice(0, POSTING_MAX_CALLS);
      return { calls, release: 0n, close: grant.ended.length === 0 };
    }
    if (grant.ended.length > 0 || (grant.stopped && grant.free > 0n)) return { calls: grant.ended.splice(0, POSTING_MAX_CALLS), release: grant.stopped ? grant.free : 0n, close: false };
    return null;
  }

  #post(entry: KeyGrants, grant: Grant, posting: Posting): Promise<void> {
    // What is given back is no longer drawable from the moment it is asked for.
    if (grant.retry !== posting) grant.free -= posting.release;
    grant.retry = posting;
    grant.posting = this.#postNow(entry, grant, posting).finally(() => {
      grant.posting = null;
    });
    return grant.posting;
  }

  async #postNow(entry: KeyGrants, grant: Grant, posting: Posting): Promise<void> {
    try {
      this.#posted(entry, grant, posting, await this.#ledger.postGrant({ grant: grant.ref, quota: grant.quota, calls: posting.calls, release: posting.release, close: posting.close }));
    } catch (error) {
      if (error instanceof LedgerError && (error.code === 'hold_expired' || error.code === 'hold_already_resolved' || error.code === 'hold_not_found')) return this.#lose(entry, grant, posting, error);
      if (error instanceof LedgerError || ['UniqueConstraintViolation', 'ForeignKeyConstraintViolation'].includes(driverErrorKind(error) ?? '')) return this.#salvage(entry, grant, posting, error);
      // The database is unreachable or busy: the same posting again, backing off to a second.
      grant.failures += 1;
      grant.retryAt = nowMs() + Math.min(1_000, this.#settings.postEveryMs * 2 ** grant.failures);
      logger.warn('could not post a grant; retrying', { grantId: grant.ref.id, failures: grant.failures, error });
    }
  }

  #posted(entry: KeyGrants, grant: Grant, posting: Posting, posted: { grant: HoldRef | null; wallet: { balance: Micros } }): void {
    grant.retry = null;
    grant.failures = 0;
    grant.retryAt = 0;
    for (const call of posting.calls) grant.unposted -= call.cost;
    this.#balances.set(grant.walletAccountId, posted.wallet.balance);
    if (posted.grant) grant.ref = posted.grant;
    if (posting.close) remove(entry.grants, grant);
  }

  /**
   * A posting the ledger refuses for good (a call that clashes with a row already there, say): its
   * calls are posted one by one, so that one call cannot keep the others from being charged, and a
   * call refused alone is recorded as served and unbilled. What the posting gave back or closed
   * follows without them.
   */
  async #salvage(entry: KeyGrants, grant: Grant, posting: Posting, error: unknown): Promise<void> {
    logger.error('a grant posting was refused; posting its calls one by one', { grantId: grant.ref.id, calls: posting.calls.length, error });
    for (const [index, call] of posting.calls.entries()) {
      try {
        this.#posted(entry, grant, { calls: [call], release: 0n, close: false }, await this.#ledger.postGrant({ grant: grant.ref, quota: grant.quota, calls: [call], release: 0n, close: false }));
      } catch (callError) {
        if (callError instanceof LedgerError || ['UniqueConstraintViolation', 'ForeignKeyConstraintViolation'].includes(driverErrorKind(callError) ?? '')) {
          grant.unposted -= call.cost;
          await this.#unbilled([call], callError);
          continue;
        }
        // Unreachable meanwhile: the rest of the calls wait for the next round.
        grant.retry = null;
        grant.ended.unshift(...posting.calls.slice(index));
        return;
      }
    }
    grant.retry = posting.release > 0n || posting.close ? { calls: [], release: posting.release, close: posting.close } : null;
  }

  /** The grant is gone (the sweeper took it: this process stalled past its expiry): what it served and had not posted cannot be charged. */
  async #lose(entry: KeyGrants, grant: Grant, posting: Posting, error: unknown): Promise<void> {
    const calls = [...posting.calls, ...grant.ended.splice(0)];
    logger.error('a grant was lost before its calls were posted: they go uncharged', { grantId: grant.ref.id, calls: calls.map((c) => c.requestId), error });
    grant.lost = true;
    grant.retry = null;
    grant.unposted = 0n;
    remove(entry.grants, grant);
    if (calls.length > 0) await this.#unbilled(calls, error);
  }

  #check(grant: Grant): Promise<void> {
    const asked = nowMs();
    grant.check = this.#ledger
      .checkGrant(grant.ref, grant.quota)
      .then((ok) => {
        if (ok) grant.checkedAt = asked;
        else grant.stopped = true;
      })
      .catch((error: unknown) => logger.warn('could not check a grant', { grantId: grant.ref.id, error }))
      .finally(() => {
        grant.check = null;
      });
    return grant.check;
  }

  async #extend(grant: Grant): Promise<void> {
    grant.extending = true;
    const t = nowMs();
    try {
      await this.#ledger.extendHolds([grant.ref.id], dateAt(t + this.#holdTtlMs));
      grant.extendedAt = t;
    } catch (error) {
      logger.warn('could not extend a grant', { grantId: grant.ref.id, error });
    } finally {
      grant.extending = false;
    }
  }
}

/** A draw back whole, unless its call already ended: nothing is recorded for the call. */
export function giveBackDraw(draw: GrantDraw): void {
  if (draw.ended) return;
  draw.ended = true;
  draw.grant.inFlight -= 1;
  draw.grant.free += draw.amount;
}

function remove<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at !== -1) list.splice(at, 1);
}
