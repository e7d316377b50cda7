// The dashboard's pure logic: the "runs out first" forecast, one colour per model, and the CSV export.
import { describe, expect, it } from 'vitest';
import type { KeyView } from '../components/keys/api';
import { USAGE_CSV_HEADER, usageCsv } from '../lib/account/usage-csv';
import { limitRace } from '../components/dashboard/limits';
import { contrastRatio, LEGEND_TEXT_COLOR, MODEL_PALETTE, modelColor } from '../components/dashboard/model-colors';

const key = (limits: { daily_requests: number | null; daily_budget_usd: number | null }, usage: { requests: number; spent_usd: number }) =>
  ({ limits, usage_today: usage }) as unknown as KeyView;

describe('limitRace', () => {
  it('forecasts nothing before the first call of the day, even with both limits set', () => {
    const race = limitRace(key({ daily_requests: 100, daily_budget_usd: 5 }, { requests: 0, spent_usd: 0 }));
    expect(race.first).toBe('none');
    expect(race.sentence).toMatch(/No calls today yet/);
  });

  it('with usage, names the limit with the larger share used', () => {
    expect(limitRace(key({ daily_requests: 100, daily_budget_usd: 5 }, { requests: 10, spent_usd: 2 })).first).toBe('budget');
    expect(limitRace(key({ daily_requests: 100, daily_budget_usd: 5 }, { requests: 50, spent_usd: 1 })).first).toBe('requests');
    expect(limitRace(key({ daily_requests: null, daily_budget_usd: null }, { requests: 5, spent_usd: 1 })).sentence).toMatch(/No daily limits/);
  });
});

describe('model colours', () => {
  const models = ['tollgate-local', 'gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'deepseek-chat'];

  it('a model keeps its colour whatever else is charted and in whatever order', () => {
    const alone = models.map(modelColor);
    const reversed = [...models].reverse().map(modelColor).reverse();
    expect(reversed).toEqual(alone);
    expect(modelColor('gpt-4o')).toBe(modelColor('gpt-4o'));
    for (const colour of alone) expect(MODEL_PALETTE).toContain(colour);
    // The hash spreads the seeded models over several colours, not one.
    expect(new Set(alone).size).toBeGreaterThanOrEqual(4);
  });

  it('bars are at least 3:1 on white and legend text at least 4.5:1', () => {
    for (const colour of MODEL_PALETTE) expect(contrastRatio(colour, '#ffffff')).toBeGreaterThanOrEqual(3);
    expect(contrastRatio(LEGEND_TEXT_COLOR, '#ffffff')).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio('#f59e0b', '#ffffff')).toBeLessThan(3); // the old amber, which failed
  });
});

describe('usage CSV', () => {
  it('names keys, marks keyless calls, and defuses formulas in key names', () => {
    const row = { created_at: '2026-12-02T12:00:00.000Z', request_id: 'req_1', model: 'gpt-4o', provider: 'openai', status: 'success', stream: false, prompt_tokens: 1, completion_tokens: 2, cached_tokens: 0, cost_usd: 0.5, latency_ms: 9, error_code: null };
    const csv = usageCsv(
      [
        { ...row, key_id: 'key_abc' },
        { ...row, key_id: null },
        { ...row, key_id: 'key_evil' },
      ],
      new Map([
        ['key_abc', 'billing, prod'],
        ['key_evil', '=HYPERLINK("x")'],
      ]),
    );
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(USAGE_CSV_HEADER);
    expect(lines[1]).toContain(',"billing, prod",');
    expect(lines[2]).toContain(',pay per request,');
    expect(lines[3]).toContain(`,"'=HYPERLINK(""x"")",`);
    expect(csv).not.toContain('key_abc');
  });
});
