/**
 * Whether the client of one request is still there: it leaves when its connection closes before
 * the answer was written. The gateway's calls only need to be told (to cut their upstream call),
 * and an AbortSignal per request, with a listener chained to the call's own controller, took ~2%
 * of the gateway's CPU on the hot path (self time in Node's AbortController and EventTarget). So
 * the signal is made only for whoever asks for one (a Web Request, a handler that passes it on),
 * and plain callbacks serve the rest.
 */
export class ClientPresence {
  #gone = false;
  #listeners: Array<() => void> | null = null;
  #controller: AbortController | null = null;

  get gone(): boolean {
    return this.#gone;
  }

  /** Aborted when the client leaves; made on first use, aborted already if it has left. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#gone) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  /** Calls `listener` once when the client leaves, or at once if it has already left. */
  onGone(listener: () => void): void {
    if (this.#gone) listener();
    else (this.#listeners ??= []).push(listener);
  }

  /** The connection closed before the answer was written; only the first call counts. */
  leave(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#controller?.abort();
    const listeners = this.#listeners;
    this.#listeners = null;
    if (listeners) for (const listener of listeners) listener();
  }
}
