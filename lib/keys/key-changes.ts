/**
 * A process-wide count of changes to API keys and what a key lookup reads with them (limits, a
 * revocation, a pack bought). The gateway's key cache (lib/gateway/auth.ts) drops whatever it read
 * before the last change, so a change made through this instance applies to its very next call;
 * other instances see it within their cache's TTL. On globalThis: Next bundles this module into
 * several chunks, and the account routes and the gateway must share one count.
 */
const state = globalThis as unknown as { tollgateKeyChanges?: { count: number } };
const changes = (state.tollgateKeyChanges ??= { count: 0 });

export function noteKeysChanged(): void {
  changes.count += 1;
}

export function keyChangeCount(): number {
  return changes.count;
}
