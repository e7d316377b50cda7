import { logger } from '../logger';

/**
 * What an upstream call watches to learn that its caller has gone: a real AbortSignal (a health
 * probe's timeout) or a call's own UpstreamAbort. Code that hands it to a library which wants a
 * real AbortSignal (the official SDKs) goes through abortSignalOf.
 */
export type UpstreamSignal = AbortSignal | UpstreamAbort;

/**
 * A call's abort: the controller and its signal in one object, without Node's AbortController.
 *
 * Made per call, an AbortController costs a signal whose internal properties Node's
 * AbortSignal sets on a hidden class of its own (on Node 20's V8, a new one in the old generation
 * each time, which then keeps the call's young objects alive until the next full collection: about
 * half of what a call still promoted after round 10 of issue #12), plus the EventTarget machinery.
 * undici needs only what this class has: `aborted`, `reason`, and an 'abort' listener added and
 * removed. The official SDKs want a real AbortSignal: `toAbortSignal()` makes one on first use,
 * already aborted if the call has been.
 */
export class UpstreamAbort {
  #aborted = false;
  #reason: unknown = undefined;
  #listeners: Array<() => void> | null = null;
  #controller: AbortController | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** What to pass to an upstream call: this object. */
  get signal(): UpstreamAbort {
    return this;
  }

  /**
   * As EventTarget's: a listener added twice is called once, and one added after the abort is
   * never called (the event has passed). `once` changes nothing: 'abort' comes at most once.
   */
  addEventListener(type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (type !== 'abort' || this.#aborted) return;
    const listeners = (this.#listeners ??= []);
    if (!listeners.includes(listener)) listeners.push(listener);
  }

  removeEventListener(type: 'abort', listener: () => void): void {
    if (type !== 'abort' || !this.#listeners) return;
    const index = this.#listeners.indexOf(listener);
    if (index !== -1) this.#listeners.splice(index, 1);
  }

  /**
   * Only the first call counts. The default reason is an AbortSignal's: a DOMException named
   * AbortError. Two differences from an EventTarget, which nothing here relies on: the listeners
   * called are those registered when the abort came (one that an earlier listener removes is still
   * called), and one that throws is logged, not reported to the process.
   */
  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    this.#controller?.abort(this.#reason);
    const listeners = this.#listeners;
    this.#listeners = null;
    if (!listeners) return;
    for (const listener of listeners) {
      // One listener's failure does not keep the others from hearing, as with an EventTarget.
      try {
        listener();
      } catch (error) {
        logger.error('an abort listener threw', { error });
      }
    }
  }

  /** A real AbortSignal that aborts with this one, made on first use. */
  toAbortSignal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }
}

/** The AbortSignal a library that wants a real one is given. */
export function abortSignalOf(signal: UpstreamSignal): AbortSignal {
  return signal instanceof UpstreamAbort ? signal.toAbortSignal() : signal;
}
