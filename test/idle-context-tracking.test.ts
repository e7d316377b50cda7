import { AsyncLocalStorage, executionAsyncId } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLOSED_CONNECTION_LIMIT_MS, IDLE_GRACE_MS, idleContextTrackingState, installIdleContextTracking, trackPage } from '../lib/server/idle-context-tracking';

/**
 * Whether Node runs hooks on promises right now, read from Node itself: inside a promise's
 * continuation, executionAsyncId() names that promise only while promise hooks are on (it is 0
 * otherwise). Read in a fresh macrotask, as Node turns its hooks off a microtask after the last
 * hook is disabled.
 */
function promiseHooksOn(): Promise<boolean> {
  return new Promise((resolve) => setImmediate(() => void Promise.resolve().then(() => resolve(executionAsyncId() !== 0))));
}

/** Pages made by a test, finished after it so that the next starts with none in flight. */
type TrackedPage = { close(): void; settle(): Promise<void> };
const made: TrackedPage[] = [];

/** A page as the server sees it: a request on a connection, a response that closes, and Next's promise for handling it. */
function page(connection = new EventEmitter()): TrackedPage {
  const req = { socket: connection } as unknown as IncomingMessage;
  const res = new EventEmitter() as unknown as ServerResponse;
  let settle!: () => void;
  const handled = new Promise<void>((resolve) => (settle = resolve));
  trackPage(req, res, handled);
  const tracked: TrackedPage = {
    close: () => res.emit('close'),
    settle: async () => {
      settle();
      await handled;
      await Promise.resolve();
    },
  };
  made.push(tracked);
  return tracked;
}

const storage = new AsyncLocalStorage<string>();

/**
 * Whether this Node tracks async context with promise hooks at all, read from Node itself: a
 * storage enabled before install (so never recorded, and disabled here by hand) turns them on or not.
 */
let hooked = false;

beforeAll(async () => {
  const probe = new AsyncLocalStorage<number>();
  probe.run(1, () => undefined);
  hooked = await promiseHooksOn();
  probe.disable();
  expect(await promiseHooksOn()).toBe(false);
  expect(installIdleContextTracking()).toBe(hooked);
});

afterEach(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  for (const p of made.splice(0)) {
    p.close();
    await p.settle();
  }
  vi.runOnlyPendingTimers();
  vi.useRealTimers();
  expect(idleContextTrackingState().pagesInFlight).toBe(0);
  expect(await promiseHooksOn()).toBe(false);
});

// On Node 24 the tracking is never on, so "on" below reads `hooked` (false there) and every page's
// context is still checked: the same tests hold on both.

describe('idle context tracking (promise hooks on Node 20 and 22; none on Node 24)', () => {
  it('turns promise hooks off once the last page is answered and the grace period has passed, and a page after that has its context', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    expect(await promiseHooksOn()).toBe(false);
    const first = page();
    await storage.run('page one', async () => {
      await null;
      expect(storage.getStore()).toBe('page one');
    });
    expect(await promiseHooksOn()).toBe(hooked);
    expect(idleContextTrackingState()).toEqual({ installed: hooked, enabledStorages: hooked ? 1 : 0, pagesInFlight: hooked ? 1 : 0 });

    first.close();
    await first.settle();
    expect(idleContextTrackingState().pagesInFlight).toBe(0);
    vi.advanceTimersByTime(IDLE_GRACE_MS - 1);
    expect(await promiseHooksOn()).toBe(hooked);
    vi.advanceTimersByTime(1);
    expect(await promiseHooksOn()).toBe(false);
    expect(idleContextTrackingState().enabledStorages).toBe(0);

    // The next page's run() enables its storage again, and its context crosses awaits and timers.
    const second = page();
    await storage.run('page two', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await null;
      expect(storage.getStore()).toBe('page two');
    });
    expect(await promiseHooksOn()).toBe(hooked);
    second.close();
    await second.settle();
    vi.advanceTimersByTime(IDLE_GRACE_MS);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('keeps tracking on while any page is in flight, and until Next has finished with a closed one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = page();
    const b = page();
    storage.run('pages', () => undefined);
    a.close();
    await a.settle();
    vi.advanceTimersByTime(IDLE_GRACE_MS * 2);
    expect(await promiseHooksOn()).toBe(hooked);

    // b's client has left, but Next is still working on it.
    b.close();
    vi.advanceTimersByTime(IDLE_GRACE_MS * 2);
    expect(await promiseHooksOn()).toBe(hooked);
    expect(idleContextTrackingState().pagesInFlight).toBe(hooked ? 1 : 0);

    await b.settle();
    vi.advanceTimersByTime(IDLE_GRACE_MS);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('counts the grace period from the last page: one that starts and ends during it starts it again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = page();
    storage.run('a', () => undefined);
    a.close();
    await a.settle();
    vi.advanceTimersByTime(IDLE_GRACE_MS - 10);

    const b = page();
    vi.advanceTimersByTime(5);
    b.close();
    await b.settle();
    // a's grace period would have ended here.
    vi.advanceTimersByTime(IDLE_GRACE_MS - 10);
    expect(await promiseHooksOn()).toBe(hooked);
    vi.advanceTimersByTime(10);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('counts a page whose client has left until Next has finished with it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const connection = new EventEmitter();
    const left = page(connection);
    storage.run('left', () => undefined);
    left.close();
    connection.emit('close');
    vi.advanceTimersByTime(IDLE_GRACE_MS * 2);
    expect(await promiseHooksOn()).toBe(hooked);
    expect(idleContextTrackingState().pagesInFlight).toBe(hooked ? 1 : 0);

    await left.settle();
    vi.advanceTimersByTime(IDLE_GRACE_MS);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('counts a page on a closed connection that Next never finishes (a pipelined request on Node 20) for CLOSED_CONNECTION_LIMIT_MS at most, and out once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const connection = new EventEmitter();
    const stuck = page(connection);
    storage.run('stuck', () => undefined);
    connection.emit('close');
    vi.advanceTimersByTime(CLOSED_CONNECTION_LIMIT_MS - 1);
    expect(await promiseHooksOn()).toBe(hooked);
    const other = page();
    vi.advanceTimersByTime(1);
    expect(idleContextTrackingState().pagesInFlight).toBe(hooked ? 1 : 0);

    // Should Next finish it after all, it is not counted out twice: the other page still holds tracking on.
    stuck.close();
    await stuck.settle();
    expect(idleContextTrackingState().pagesInFlight).toBe(hooked ? 1 : 0);
    vi.advanceTimersByTime(IDLE_GRACE_MS);
    expect(await promiseHooksOn()).toBe(hooked);

    other.close();
    await other.settle();
    vi.advanceTimersByTime(IDLE_GRACE_MS);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('counts a page handed to Next on a connection that had already closed for CLOSED_CONNECTION_LIMIT_MS at most, with no listener on it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const closed = Object.assign(new EventEmitter(), { destroyed: true });
    page(closed);
    storage.run('closed', () => undefined);
    expect(closed.listenerCount('close')).toBe(0);
    vi.advanceTimersByTime(CLOSED_CONNECTION_LIMIT_MS - 1);
    expect(idleContextTrackingState().pagesInFlight).toBe(hooked ? 1 : 0);
    expect(await promiseHooksOn()).toBe(hooked);
    vi.advanceTimersByTime(1);
    expect(idleContextTrackingState().pagesInFlight).toBe(0);
    vi.advanceTimersByTime(IDLE_GRACE_MS);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('puts one listener on a connection however many requests it carries, and none on a connection that has closed', async () => {
    const connection = new EventEmitter();
    const pages = Array.from({ length: 12 }, () => page(connection));
    expect(connection.listenerCount('close')).toBe(hooked ? 1 : 0);
    for (const p of pages) {
      p.close();
      await p.settle();
    }
    expect(idleContextTrackingState().pagesInFlight).toBe(0);
    connection.emit('close');
    expect(connection.listenerCount('close')).toBe(0);
  });
});
