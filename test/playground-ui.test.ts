import { afterEach, describe, expect, it, vi } from 'vitest';
import { paidFrom, priceLine, settledUsage } from '../components/playground/billing';
import { startWatchdog } from '../components/playground/watchdog';
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
    const row = await settledUsage('req_1', { fetchJson: async (path) => (paths.push(path), answers.shift()), delayMs: 1 });
    expect(row).toEqual({ request_id: 'req_1', cost_usd: 0.000321, prompt_tokens: 12, completion_tokens: 7 });
    expect(paths).toEqual(Array(3).fill('/api/usage?limit=20'));
  });
  it('gives up after its attempts, and survives a failing request', async () => {
    let calls = 0;
    const row = await settledUsage('req_1', { fetchJson: () => (calls++, Promise.reject(new Error('offline'))), attempts: 3, delayMs: 1 });
    expect(row).toBeNull();
    expect(calls).toBe(3);
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
  it('never fires once stopped', () => {
    vi.useFakeTimers();
    const onStall = vi.fn();
    const watchdog = startWatchdog(1_000, onStall);
    watchdog.stop();
    vi.advanceTimersByTime(5_000);
    expect(onStall).not.toHaveBeenCalled();
  });
});
