import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { logger } from '../logger';

/**
 * Node 20 and 22 track AsyncLocalStorage contexts with async hooks: from the first `run()` of any
 * storage until every storage is disabled, a hook runs on every promise made and around every
 * continuation, in the whole process. Next runs its request storages for every request it serves,
 * so after the first page every /v1 call paid for tracking it never reads (rounds 15, 16 and 19 of
 * docs/performance-history.md). This module turns the tracking off while Next serves nothing: every
 * storage enabled since install (Next's, React's, lib/http/request-context.ts's) is disabled once
 * no request handed to Next (a page, an asset, a route handler: "a page" below) has been in flight
 * for IDLE_GRACE_MS; the next `run()` (Next's next request) enables its storage again.
 *
 * So a storage may be used only inside requests handed to Next: one read by /v1, the sweeper or
 * any other work not counted here would lose its context when tracking goes off.
 *
 * Node 24 (and 22 with --experimental-async-context-frame) keeps contexts in a frame carried by the
 * engine, with no hooks and no `_enable`: there this module does nothing.
 */

type TrackedStorage = AsyncLocalStorage<unknown> & { enabled?: boolean };
type HookedPrototype = { _enable?: (this: TrackedStorage) => void };

/** How long after the last page tracking stays on: for work Next finishes after the response (after(), cache writes). */
export const IDLE_GRACE_MS = 2_000;

/**
 * How long a page whose connection has closed stays counted while Next has not finished with it.
 * Next normally finishes soon after (a render whose client left is aborted); a pipelined request
 * whose connection died before its turn never finishes on Node 20 (see trackPage).
 */
export const CLOSED_CONNECTION_LIMIT_MS = 60_000;

const enabledStorages = new Set<TrackedStorage>();
let pagesInFlight = 0;
let idleTimer: NodeJS.Timeout | undefined;
let installed = false;

/**
 * Records every storage that enables itself. Must run before any storage is enabled (the server
 * calls it before Next prepares): one enabled earlier would never be disabled, and tracking would
 * stay on, as without this module.
 */
export function installIdleContextTracking(): boolean {
  if (installed) return true;
  const prototype = AsyncLocalStorage.prototype as unknown as HookedPrototype;
  const enable = prototype._enable;
  if (typeof enable !== 'function') return false;
  prototype._enable = function recordEnabled(this: TrackedStorage) {
    enabledStorages.add(this);
    enable.call(this);
  };
  installed = true;
  return true;
}

/**
 * Counts a request handed to Next as a page in flight until its response has closed and `handled`
 * (Next's promise for it) has settled. A client that leaves closes the response; what Next still
 * does for it is counted until `handled` settles, so its context holds. A pipelined request whose
 * connection dies before its turn is the exception: on Node 20 its response never closes and Next's
 * promise for it waits for a drain that never comes, so once its connection has closed it is
 * counted for CLOSED_CONNECTION_LIMIT_MS at most; otherwise one such request would keep tracking on
 * for good.
 */
export function trackPage(req: IncomingMessage, res: ServerResponse, handled: Promise<unknown>): void {
  if (!installed) return;
  pagesInFlight += 1;
  if (idleTimer) {
    clearTimeout(idleTimer);
    idleTimer = undefined;
  }
  const page = new PageInFlight(req.socket);
  res.once('close', page.step);
  // A rejection stays unhandled, as it was before it was watched here.
  handled.then(page.step, (error: unknown) => {
    page.step();
    throw error;
  });
  if (req.socket.destroyed) {
    // Its connection was destroyed before Next got the request: its 'close' has been emitted or is
    // about to be, before any listener added here could count on it, so the limit starts now.
    page.connectionClosed();
    return;
  }
  let pages = pagesByConnection.get(req.socket);
  if (!pages) {
    pages = new Set();
    pagesByConnection.set(req.socket, pages);
    // One listener a connection, however many requests it carries.
    req.socket.once('close', connectionClosed);
  }
  pages.add(page);
}

const pagesByConnection = new WeakMap<Socket, Set<PageInFlight>>();

function connectionClosed(this: Socket): void {
  const pages = pagesByConnection.get(this);
  pagesByConnection.delete(this);
  for (const page of pages ?? []) page.connectionClosed();
}

/** One page being counted: done when both its response has closed and Next has finished with it. */
class PageInFlight {
  readonly #socket: Socket;
  #pending = 2;
  #done = false;
  #limit: NodeJS.Timeout | undefined;
  readonly step = this.#step.bind(this);

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  connectionClosed(): void {
    if (this.#done || this.#limit) return;
    this.#limit = setTimeout(this.#limitReached.bind(this), CLOSED_CONNECTION_LIMIT_MS);
    this.#limit.unref();
  }

  #limitReached(): void {
    logger.debug('a request for Next on a closed connection was not finished after the limit: no longer counted', { limit_ms: CLOSED_CONNECTION_LIMIT_MS });
    this.#finish();
  }

  #step(): void {
    this.#pending -= 1;
    if (this.#pending === 0) this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#limit);
    pagesByConnection.get(this.#socket)?.delete(this);
    pageDone();
  }
}

function pageDone(): void {
  pagesInFlight -= 1;
  if (pagesInFlight > 0) return;
  idleTimer = setTimeout(disableWhenIdle, IDLE_GRACE_MS);
  idleTimer.unref();
}

/** Runs only with no page in flight: a page that starts clears the timer. */
function disableWhenIdle(): void {
  idleTimer = undefined;
  const storages = enabledStorages.size;
  for (const storage of enabledStorages) storage.disable();
  enabledStorages.clear();
  logger.debug('async context tracking off: no page served for the grace period', { storages, grace_ms: IDLE_GRACE_MS });
}

/** For tests: whether any recorded storage is enabled, and the pages counted. */
export function idleContextTrackingState(): { installed: boolean; enabledStorages: number; pagesInFlight: number } {
  let enabled = 0;
  for (const storage of enabledStorages) if (storage.enabled) enabled += 1;
  return { installed, enabledStorages: enabled, pagesInFlight };
}
