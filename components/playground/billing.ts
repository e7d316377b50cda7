import { formatUsdNumber } from '@/lib/money';
import type { ChatChunk } from './sse';

/** "$0.15 in · $0.60 out per 1M tokens", or null for a model without prices. */
export function priceLine({ inputPer1M, outputPer1M }: { inputPer1M: number | null; outputPer1M: number | null }): string | null {
  if (inputPer1M === null || outputPer1M === null) return null;
  return `${formatUsdNumber(inputPer1M)} in · ${formatUsdNumber(outputPer1M)} out per 1M tokens`;
}

/** A lot as GET /api/lots lists it: enough to name the pack that paid. */
export type LotSummary = { id: string; kind: 'pack' | 'welcome'; pack_name: string };

/** Who paid for a reply: a pack (by name), the welcome credit, or the balance. */
export type PaidFrom = { kind: 'pack' | 'welcome' | 'balance'; label: string };

/**
 * Reads the gateway's `billing` object (lib/gateway/settle.ts billingForClient) and says only what
 * it proves. Lots pay in order, each up to what it holds: `pack` is the first lot that paid (the
 * welcome credit is a lot too). Still ACTIVE afterwards, it had money left over, so it paid it all.
 * EXHAUSTED, it ran out during the call: it paid, and whatever it lacked came from the next lot or
 * the wallet, which the object does not tell apart (`balance_usd` is there whenever the wallet was
 * in line, whether or not it was drawn). No lot at all: the wallet paid. `welcomeLotId` (from
 * /api/account) names the welcome credit even when the lots list (`lots`) failed or is stale.
 * Null when nothing was charged or nothing is said.
 */
export function paidFrom(billing: ChatChunk['billing'], lots: LotSummary[] | null | undefined, welcomeLotId?: string | null): PaidFrom | null {
  if (!billing || !billing.charged_usd) return null;
  const pack = billing.pack;
  if (!pack) return typeof billing.balance_usd === 'number' ? { kind: 'balance', label: 'your balance' } : null;
  const lot = lots?.find((l) => l.id === pack.id);
  const welcome = (welcomeLotId != null && pack.id === welcomeLotId) || lot?.kind === 'welcome';
  const name = welcome ? 'welcome credit' : lot ? lot.pack_name : 'a pack';
  const kind = welcome ? 'welcome' : 'pack';
  if (pack.status === 'EXHAUSTED') return { kind, label: `${name} (now used up), and any rest from your other credit${typeof billing.balance_usd === 'number' ? ' or balance' : ''}` };
  if (pack.status === 'EXPIRED') return { kind, label: `${name} (now expired)` };
  return { kind, label: name };
}

/** One row of GET /api/usage, the fields the playground reads. */
type UsageRow = { request_id: string; cost_usd: number; prompt_tokens: number; completion_tokens: number };

/**
 * What a call that was cut short (Stop, or a stall) was billed: the gateway settles it when it sees
 * the hang-up, which under load can take seconds, so the usage list is asked again with growing
 * pauses (firstDelayMs, doubled, capped at maxDelayMs) for about `budgetMs` in all. Any status: a
 * reply the server had finished sending when the browser hung up is billed in full. `signal` ends
 * the search (the page went away). Null when it does not show up (the numbers then are on the
 * dashboard) or the search was ended.
 */
export async function settledUsage(
  requestId: string,
  {
    fetchJson,
    signal,
    budgetMs = 10_000,
    firstDelayMs = 250,
    maxDelayMs = 3_000,
  }: { fetchJson: (path: string) => Promise<unknown>; signal?: AbortSignal; budgetMs?: number; firstDelayMs?: number; maxDelayMs?: number },
): Promise<UsageRow | null> {
  let waited = 0;
  let delay = firstDelayMs;
  for (;;) {
    if (signal?.aborted) return null;
    const body = (await fetchJson('/api/usage?limit=20').catch(() => null)) as { data?: UsageRow[] } | null;
    const row = body?.data?.find((r) => r.request_id === requestId);
    if (row) return row;
    if (waited >= budgetMs || signal?.aborted) return null;
    const pause = Math.min(delay, maxDelayMs, budgetMs - waited);
    if (!(await sleep(pause, signal))) return null;
    waited += pause;
    delay *= 2;
  }
}

/** Waits `ms`; false when `signal` ended the wait first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
