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
 * Reads the gateway's `billing` object: `pack` is the first lot that paid (the welcome credit is a
 * lot too); with no lot the wallet balance paid. Null when nothing was charged or nothing is said.
 */
export function paidFrom(billing: ChatChunk['billing'], lots: LotSummary[] | null | undefined): PaidFrom | null {
  if (!billing || !billing.charged_usd) return null;
  const pack = billing.pack;
  if (!pack) return typeof billing.balance_usd === 'number' ? { kind: 'balance', label: 'your balance' } : null;
  const lot = lots?.find((l) => l.id === pack.id);
  if (lot?.kind === 'welcome') return { kind: 'welcome', label: 'welcome credit' };
  return { kind: 'pack', label: lot ? lot.pack_name : 'a pack' };
}

/** One row of GET /api/usage, the fields the playground reads. */
type UsageRow = { request_id: string; cost_usd: number; prompt_tokens: number; completion_tokens: number };

/**
 * What a call that was cut short (Stop, or a stall) was billed: the gateway settles it when it sees
 * the hang-up, a moment later, so the usage list is asked a few times for the call's request id.
 * Any status: a reply the server had finished sending when the browser hung up is billed in full.
 * Null when it does not show up (the numbers then are on the dashboard).
 */
export async function settledUsage(
  requestId: string,
  { fetchJson, attempts = 6, delayMs = 400 }: { fetchJson: (path: string) => Promise<unknown>; attempts?: number; delayMs?: number },
): Promise<UsageRow | null> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const body = (await fetchJson('/api/usage?limit=20').catch(() => null)) as { data?: UsageRow[] } | null;
    const row = body?.data?.find((r) => r.request_id === requestId);
    if (row) return row;
  }
  return null;
}
