// The dashboard's pure logic: the "runs out first" forecast, one colour per model, and the CSV export.
import { describe, expect, it } from 'vitest';
import type { KeyView } from '../components/keys/api';
import { USAGE_CSV_HEADER, usageCsv } from '../lib/account/usage-csv';
import { limitRace } from '../components/dashboard/limits';
import { chartColors, contrastRatio, FIXED_MODEL_COLORS, LEGEND_TEXT_COLOR, MODEL_PALETTE, modelColor } from '../components/dashboard/model-colors';
import { SEED_EMBEDDING_MODELS, SEED_MODELS } from '../lib/catalog/seed-data';

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
  const seeded = [...SEED_MODELS, ...SEED_EMBEDDING_MODELS].map((m) => m.id);

  it('every seeded catalogue model has a fixed colour of its own, so no two clash in any chart', () => {
    for (const model of seeded) expect(FIXED_MODEL_COLORS, model).toHaveProperty([model]);
    expect(new Set(seeded.map(modelColor)).size).toBe(seeded.length);
    const all = chartColors(seeded);
    expect(new Set(all.values()).size).toBe(seeded.length);
    for (const model of seeded) expect(all.get(model)).toBe(modelColor(model));
    // The pairs the hash used to paint alike.
    expect(modelColor('gpt-4o')).not.toBe(modelColor('deepseek-chat'));
    expect(modelColor('claude-haiku-4-5')).not.toBe(modelColor('gemini-2.5-flash'));
  });

  it('known results: fixed for the catalogue, hashed into the palette for other models', () => {
    expect(modelColor('gpt-4o')).toBe('#047857');
    expect(modelColor('deepseek-chat')).toBe('#b91c1c');
    expect(modelColor('tollgate-local')).toBe('#475569');
    expect(modelColor('my-finetune')).toBe('#0e7490');
    expect(modelColor('mistral-large')).toBe('#be185d');
  });

  it('in one chart a clash moves the unknown model to the next free colour, in sorted id order whatever the input order', () => {
    // my-finetune hashes to gpt-4o-mini's fixed cyan; mistral-large then holds the next colour, pink.
    const expected = new Map([
      ['gpt-4o-mini', '#0e7490'],
      ['mistral-large', '#be185d'],
      ['my-finetune', '#4d7c0f'],
    ]);
    for (const order of [
      ['my-finetune', 'gpt-4o-mini', 'mistral-large'],
      ['mistral-large', 'my-finetune', 'gpt-4o-mini'],
    ]) {
      const colors = chartColors(order);
      for (const [model, colour] of expected) expect(colors.get(model), model).toBe(colour);
    }
    // Alone, a model keeps its own colour.
    expect(chartColors(['my-finetune']).get('my-finetune')).toBe('#0e7490');
  });

  it('bars are at least 3:1 on white and legend text at least 4.5:1', () => {
    for (const colour of MODEL_PALETTE) expect(contrastRatio(colour, '#ffffff')).toBeGreaterThanOrEqual(3);
    expect(contrastRatio(LEGEND_TEXT_COLOR, '#ffffff')).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio('#f59e0b', '#ffffff')).toBeLessThan(3); // the old amber, which failed
  });
});

describe('usage CSV', () => {
  it('keeps key ids and adds key names, marks keyless calls, and defuses formulas in key names', () => {
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
    expect(lines[0]!.split(',').slice(2, 4)).toEqual(['key_id', 'key_name']);
    expect(lines[1]).toContain(',req_1,key_abc,"billing, prod",gpt-4o,');
    expect(lines[2]).toContain(',req_1,,pay per request,gpt-4o,');
    expect(lines[3]).toContain(`,req_1,key_evil,"'=HYPERLINK(""x"")",gpt-4o,`);
  });
});
