/**
 * How long the playground waits in silence before it hangs up. The gateway itself waits up to its
 * upstream timeout (UPSTREAM_TIMEOUT_MS, 120 s by default, lib/providers/registry.ts) for an
 * answer before it sends headers, and tolerates 60 s of silence mid-stream
 * (UPSTREAM_IDLE_TIMEOUT_MS): the browser gives each a margin on top, so only a call the gateway
 * would still be waiting on is never cut off here, and a slow first token is not a stall.
 */
export const STALL_LIMITS = {
  /** From sending the request until the response headers arrive. */
  beforeHeadersMs: 150_000,
  /** Between two reads of the body (any bytes: data, comments, heartbeats). */
  midStreamMs: 75_000,
} as const;

/**
 * Fires `onStall` once when `kick` has not been called for the current period: the playground's
 * guard against a stream that stops sending (a proxy holding the connection, an upstream that went
 * quiet). `kick(ms)` re-arms it, with a new period when given (headers → mid-stream); `stop` ends it.
 */
export function startWatchdog(ms: number, onStall: () => void) {
  let period = ms;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onStall();
    }, period);
  };
  arm();
  return {
    kick: (nextMs?: number) => {
      if (timer === null) return;
      if (nextMs !== undefined) period = nextMs;
      arm();
    },
    stop: () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
