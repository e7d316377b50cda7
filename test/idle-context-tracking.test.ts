import { AsyncLocalStorage, executionAsyncId } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { IDLE_GRACE_MS, idleContextTrackingState, installIdleContextTracking, trackPage } from '../lib/server/idle-context-tracking';

/**
 * Whether Node runs hooks on promises right now, read from Node itself: inside a promise's
 * continuation, executionAsyncId() names that promise only while promise hooks are on (it is 0
 * otherwise). Read in a fresh macrotask, as Node turns its hooks off a microtask after the last
 * hook is disabled.
 */
function promiseHooksOn(): Promise<boolean> {
  return new Promise((resolve) => setImmediate(() => void Promise.resolve().then(() => resolve(executionAsyncId() !== 0))));
}

/** Node 24, and 22 with the flag, keep async context in a frame the engine carries: no hooks to turn off. */
const nodeMajor = Number(process.versions.node.split('.')[0]);
const contextFrame = nodeMajor >= 24 || process.execArgv.includes('--experimental-async-context-frame');

/** A page as the server sees it: a request on a connection, a response that closes, and Next's promise for handling it. */
function page(connection = new EventEmitter()) {
  const req = { socket: connection } as unknown as IncomingMessage;
  const res = new EventEmitter() as unknown as ServerResponse;
  let settle!: () => void;
  const handled = new Promise<void>((resolve) => (settle = resolve));
  trackPage(req, res, handled);
  return {
    close: () => res.emit('close'),
    settle: async () => {
      settle();
      await handled;
      await Promise.resolve();
    },
  };
}

const storage = new AsyncLocalStorage<string>();

beforeAll(() => {
  // The storage must be enabled after install: a storage enabled before is never recorded.
  expect(installIdleContextTracking()).toBe(!contextFrame);
});

afterEach(() => {
  vi.useRealTimers();
});

// On Node 24 the tracking is never on, so "on" below reads `hooked` (false there) and every page's
// context is still checked: the same tests hold on both.
const hooked = !contextFrame;

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
    expect(storage.getStore()).toBeUndefined();

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

  it('counts a page whose connection has closed as done, even if Next never finishes it (a pipelined request on a dead connection, on Node 20)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const connection = new EventEmitter();
    const stuck = page(connection);
    const other = page();
    storage.run('stuck', () => undefined);
    vi.advanceTimersByTime(IDLE_GRACE_MS * 2);
    expect(await promiseHooksOn()).toBe(hooked);

    connection.emit('close');
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

  it('leaves no listener on a kept-alive connection once its pages are done', async () => {
    const connection = new EventEmitter();
    const pages = [page(connection), page(connection), page(connection)];
    expect(connection.listenerCount('close')).toBe(hooked ? 3 : 0);
    for (const p of pages) {
      p.close();
      await p.settle();
    }
    expect(connection.listenerCount('close')).toBe(0);
    expect(idleContextTrackingState().pagesInFlight).toBe(0);
  });
});
