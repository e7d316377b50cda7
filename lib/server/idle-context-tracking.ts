import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Node 20 and 22 track AsyncLocalStorage contexts with async hooks: from the first `run()` of any
 * storage until every storage is disabled, a hook runs on every promise made and around every
 * continuation, in the whole process. Next runs its request storages for every page, so after the
 * first page every /v1 call paid for tracking it never reads (rounds 15 and 16 of
 * docs/performance-history.md). This module turns the tracking off while no Next request is being
 * served: the storages are disabled once the last page has been answered and a grace period has
 * passed with none started; the next `run()` (Next's next request) enables its storage again.
 *
 * Node 24 (and 22 with --experimental-async-context-frame) keeps contexts in a frame carried by the
 * engine, with no hooks and no `_enable`: there this module does nothing.
 */

type TrackedStorage = AsyncLocalStorage<unknown> & { enabled?: boolean };
type HookedPrototype = { _enable?: (this: TrackedStorage) => void };

/** How long after the last page tracking stays on: for work Next finishes after the response (after(), cache writes). */
export const IDLE_GRACE_MS = 2_000;

const enabledStorages = new Set<TrackedStorage>();
let pagesInFlight = 0;
let idleTimer: NodeJS.Timeout | undefined;
let installed = false;

/**
 * Records every storage that enables itself. Must run before Next's modules are loaded: a storage
 * enabled earlier would never be disabled (harmless, but then tracking stays on).
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
 * Counts a request for Next as a page in flight until its response has closed and `handled` (Next's
 * promise for it) has settled, or until its connection closes. The connection is watched because a
 * pipelined request whose connection dies before its turn never gets its response closed on Node 20,
 * and Next's promise for it waits for a drain that never comes: counted until then, it would keep
 * tracking on for good. Whatever Next still does for a client that has left may then run without
 * its context, which errs for no one.
 */
export function trackPage(req: IncomingMessage, res: ServerResponse, handled: Promise<unknown>): void {
  if (!installed) return;
  pagesInFlight += 1;
  if (idleTimer) {
    clearTimeout(idleTimer);
    idleTimer = undefined;
  }
  new PageInFlight(req.socket, res, handled);
}

/** One page being served. Its listeners are bound methods: one connection carries many requests, and each removes its own. */
class PageInFlight {
  readonly #socket: Socket;
  #pending = 2;
  #done = false;
  readonly #onStep = this.#step.bind(this);
  readonly #onConnectionClosed = this.#finish.bind(this);

  constructor(socket: Socket, res: ServerResponse, handled: Promise<unknown>) {
    this.#socket = socket;
    res.once('close', this.#onStep);
    handled.then(this.#onStep, this.#onStep);
    socket.once('close', this.#onConnectionClosed);
  }

  #step(): void {
    this.#pending -= 1;
    if (this.#pending === 0) this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#socket.off('close', this.#onConnectionClosed);
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
  for (const storage of enabledStorages) storage.disable();
  enabledStorages.clear();
}

/** For tests: whether any recorded storage is enabled, and the pages counted. */
export function idleContextTrackingState(): { installed: boolean; enabledStorages: number; pagesInFlight: number } {
  let enabled = 0;
  for (const storage of enabledStorages) if (storage.enabled) enabled += 1;
  return { installed, enabledStorages: enabled, pagesInFlight };
}
