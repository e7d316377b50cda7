import { afterEach, describe, expect, it, vi } from 'vitest';
import { paidFrom, priceLine, settledUsage } from '../components/playground/billing';
import { readSseData } from '../components/playground/sse';
import { STALL_LIMITS, startWatchdog } from '../components/playground/watchdog';
import { formatUsdNumber } from '../lib/money';

// The playground's pieces outside React: one money format, prices in the picker, who paid, the cost
// of a turn cut short, and the stall watchdog.

afterEach(() => {
  vi.useRealTimers();
});

describe('money in the playground', () => {
  it('formats API dollar numbers like lib/money formats micro-dollars', () => {
    expect(formatUsdNumber(0)).toBe('$0.00');
    expect(formatUsdNumber(0.000123)).toBe('$0.000123');
    expect(formatUsdNumber(0.1 + 0.2)).toBe('$0.30');
    expect(formatUsdNumber(1234.5)).toBe('$1,234.50');
    expect(formatUsdNumber(9.999982)).toBe('$9.999982');
  });

  it('shows a dash, not an exception, for a number that is missing or broken', () => {
    expect(formatUsdNumber(Number.NaN)).toBe('—');
    expect(formatUsdNumber(undefined)).toBe('—');
    expect(formatUsdNumber(null)).toBe('—');
    expect(formatUsdNumber(Number.POSITIVE_INFINITY)).toBe('—');
  });

  it('prices a model per 1M tokens, in and out; nothing for a model without prices', () => {
    expect(priceLine({ inputPer1M: 0.15, outputPer1M: 0.6 })).toBe('$0.15 in · $0.60 out per 1M tokens');
    expect(priceLine({ inputPer1M: null, outputPer1M: null })).toBeNull();
  });
});

describe('who paid for a reply', () => {
  const lots = [
    { id: 'lot_w', kind: 'welcome' as const, pack_name: 'Welcome credit (playground only)' },
    { id: 'lot_p', kind: 'pack' as const, pack_name: 'Local sampler' },
  ];
  it('names the pack, the welcome credit or the balance, as the billing object says', () => {
    const pack = (id: string) => ({ id, status: 'ACTIVE' as const, remaining_usd: 1 });
    expect(paidFrom({ charged_usd: 0.001, balance_usd: 5, pack: pack('lot_p') }, lots)).toEqual({ kind: 'pack', label: 'Local sampler' });
    expect(paidFrom({ charged_usd: 0.001, balance_usd: 0, pack: pack('lot_w') }, lots)).toEqual({ kind: 'welcome', label: 'welcome credit' });
    expect(paidFrom({ charged_usd: 0.001, balance_usd: 4.5 }, lots)).toEqual({ kind: 'balance', label: 'your balance' });
    expect(paidFrom({ charged_usd: 0.001, balance_usd: 5, pack: pack('lot_unknown') }, null)).toEqual({ kind: 'pack', label: 'a pack' });
  });
  it('knows the welcome credit by its lot id when the lots list failed or is stale', () => {
    const welcome = { id: 'lot_new_welcome', status: 'ACTIVE' as const, remaining_usd: 0.5 };
    expect(paidFrom({ charged_usd: 0.001, balance_usd: 0, pack: welcome }, null, 'lot_new_welcome')).toEqual({ kind: 'welcome', label: 'welcome credit' });
    expect(paidFrom({ charged_usd: 0.001, balance_usd: 0, pack: welcome }, lots, 'lot_new_welcome')).toEqual({ kind: 'welcome', label: 'welcome credit' });
  });
  it('does not claim a lot that ran out during the call paid it all', () => {
    const usedUp = (id: string) => ({ id, status: 'EXHAUSTED' as const, remaining_usd: 0 });
    expect(paidFrom({ charged_usd: 0.002, balance_usd: 4.99, pack: usedUp('lot_p') }, lots)).toEqual({
      kind: 'pack',
      label: 'Local sampler (now used up), and any rest from your other credit or balance',
    });
    expect(paidFrom({ charged_usd: 0.002, balance_usd: null, pack: usedUp('lot_w') }, lots, 'lot_w')).toEqual({
      kind: 'welcome',
      label: 'welcome credit (now used up), and any rest from your other credit',
    });
    expect(paidFrom({ charged_usd: 0.002, balance_usd: 5, pack: { id: 'lot_p', status: 'EXPIRED', remaining_usd: 0.3 } }, lots)?.label).toBe('Local sampler (now expired)');
  });
  it('says nothing when nothing was charged or the gateway did not say', () => {
    expect(paidFrom({ charged_usd: 0, balance_usd: 5 }, lots)).toBeNull();
    expect(paidFrom(null, lots)).toBeNull();
    expect(paidFrom({ charged_usd: 0.01, balance_usd: null }, lots)).toBeNull();
  });
});

describe('the cost of a turn cut short', () => {
  it('asks the usage list until the call shows up, settled', async () => {
    const answers = [{ data: [] }, { data: [{ request_id: 'req_other', cost_usd: 1, prompt_tokens: 1, completion_tokens: 1 }] }, { data: [{ request_id: 'req_1', cost_usd: 0.000321, prompt_tokens: 12, completion_tokens: 7 }] }];
    const paths: string[] = [];
    const row = await settledUsage('req_1', { fetchJson: async (path) => (paths.push(path), answers.shift()), firstDelayMs: 1 });
    expect(row).toEqual({ request_id: 'req_1', cost_usd: 0.000321, prompt_tokens: 12, completion_tokens: 7 });
    expect(paths).toEqual(Array(3).fill('/api/usage?limit=20'));
  });
  it('backs off for about ten seconds before it gives up, and survives a failing request', async () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const found = settledUsage('req_1', { fetchJson: () => (times.push(Date.now()), Promise.reject(new Error('offline'))) });
    const start = Date.now();
    await vi.advanceTimersByTimeAsync(9_000);
    expect(times.length).toBeGreaterThan(3);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await found).toBeNull();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Growing pauses: the settlement is a moment away at first, later it is a slow database.
    expect(gaps.slice(0, 3)).toEqual([250, 500, 1_000]);
    expect(times.at(-1)! - start).toBe(10_000);
  });
  it('stops asking once the page is gone', async () => {
    vi.useFakeTimers();
    const life = new AbortController();
    let calls = 0;
    const found = settledUsage('req_1', { fetchJson: async () => (calls++, { data: [] }), signal: life.signal });
    await vi.advanceTimersByTimeAsync(800);
    const before = calls;
    life.abort();
    expect(await found).toBeNull();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(calls).toBe(before);
  });
});

describe('the stall watchdog', () => {
  it('fires once after the quiet period, pushed back by every kick', () => {
    vi.useFakeTimers();
    const onStall = vi.fn();
    const watchdog = startWatchdog(1_000, onStall);
    vi.advanceTimersByTime(900);
    watchdog.kick();
    vi.advanceTimersByTime(900);
    expect(onStall).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(onStall).toHaveBeenCalledTimes(1);
    watchdog.kick();
    vi.advanceTimersByTime(5_000);
    expect(onStall).toHaveBeenCalledTimes(1);
  });
  it('waits past the gateway before the headers, and past its 60 s idle limit in the stream', () => {
    // UPSTREAM_TIMEOUT_MS defaults to 120 s (lib/providers/registry.ts), UPSTREAM_IDLE_TIMEOUT_MS to 60 s.
    expect(STALL_LIMITS.beforeHeadersMs).toBeGreaterThan(120_000);
    expect(STALL_LIMITS.midStreamMs).toBeGreaterThan(60_000);
    vi.useFakeTimers();
    const onStall = vi.fn();
    const watchdog = startWatchdog(STALL_LIMITS.beforeHeadersMs, onStall);
    vi.advanceTimersByTime(125_000); // a slow first answer is not a stall
    expect(onStall).not.toHaveBeenCalled();
    watchdog.kick(STALL_LIMITS.midStreamMs);
    vi.advanceTimersByTime(STALL_LIMITS.midStreamMs - 1);
    expect(onStall).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onStall).toHaveBeenCalledTimes(1);
  });
  it('never fires once stopped', () => {
    vi.useFakeTimers();
    const onStall = vi.fn();
    const watchdog = startWatchdog(1_000, onStall);
    watchdog.stop();
    vi.advanceTimersByTime(5_000);
    expect(onStall).not.toHaveBeenCalled();
  });
});

describe('reading the stream', () => {
  it('reports every read, a heartbeat comment too, not only data events', async () => {
    const encoder = new TextEncoder();
    const parts = [': keep-alive\n\n', ': keep-alive\n\n', 'data: {"a":1}\n\n', 'data: [DONE]\n\n'];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(encoder.encode(next));
      },
    });
    let reads = 0;
    const data: string[] = [];
    for await (const event of readSseData(body, { onRead: () => reads++ })) data.push(event);
    expect(data).toEqual(['{"a":1}', '[DONE]']);
    expect(reads).toBeGreaterThanOrEqual(4);
  });
});
