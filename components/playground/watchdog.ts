/**
 * Fires `onStall` once when `kick` has not been called for `ms`: the playground's guard against a
 * stream that stops sending (a proxy holding the connection, an upstream that went quiet). Started
 * when the request goes out; every response header and chunk kicks it; `stop` ends it.
 */
export function startWatchdog(ms: number, onStall: () => void) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onStall();
    }, ms);
  };
  arm();
  return {
    kick: () => {
      if (timer !== null) arm();
    },
    stop: () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
