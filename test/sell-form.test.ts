import { describe, expect, it } from 'vitest';
import { percentToRate, validatePoolForm, type PoolFormValues } from '../components/sell/pool-form-values';
import { createPoolSchema } from '../lib/sellers/schemas';

// The /sell form's own checks: plain-words messages, and a body the server's schema accepts as is.
const now = new Date('2026-12-02T12:00:00Z');
const valid: PoolFormValues = { provider: 'openai', apiKey: ' sk-test-abcdefgh1234 ', faceValue: '$1,250.50', ratePercent: '62.5', expires: '2027-06-01' };

describe('the sell form', () => {
  it('turns a percentage into the decimal rate the API takes, on the digits', () => {
    expect(percentToRate('60')).toBe('0.6');
    expect(percentToRate('62.5')).toBe('0.625');
    expect(percentToRate('57.35 %')).toBe('0.5735');
    expect(percentToRate('1')).toBe('0.01');
    expect(percentToRate('100')).toBe('1');
    for (const bad of ['0', '0.99', '100.01', '101', '60.125', '', 'abc', '-5', '1e2']) expect(percentToRate(bad), bad).toBeNull();
  });

  it('builds a body the server schema accepts, with the key trimmed and the expiry at the end of the day UTC', () => {
    const result = validatePoolForm(valid, now);
    expect(result).toEqual({
      ok: true,
      body: { provider: 'openai', api_key: 'sk-test-abcdefgh1234', face_value_usd: '1250.50', rate: '0.625', expires_at: '2027-06-01T23:59:59.999Z' },
    });
    if (!result.ok) return;
    const parsed = createPoolSchema.parse(result.body);
    expect(parsed.face_value_usd).toBe(1_250_500_000n);
    expect(parsed.rate).toBe(6250);
    expect(createPoolSchema.parse({ ...result.body, expires_at: null }).expires_at).toBeNull();
  });

  it.each([
    [{ faceValue: '' }, 'faceValue', 'Enter a face value of at least $1.'],
    [{ faceValue: '0.5' }, 'faceValue', 'Enter a face value of at least $1.'],
    [{ faceValue: 'ten' }, 'faceValue', 'Enter the face value as a dollar amount, like 250 or 99.50.'],
    [{ faceValue: '1000001' }, 'faceValue', 'The face value can be at most $1,000,000.'],
    [{ apiKey: '' }, 'apiKey', 'Paste your OpenAI API key.'],
    [{ apiKey: 'sk-1' }, 'apiKey', 'That is too short to be an API key: check that you pasted all of it.'],
    [{ apiKey: 'sk-abc def-123' }, 'apiKey', 'An API key has no spaces or accented characters: check what you pasted.'],
    [{ ratePercent: '0' }, 'ratePercent', 'Enter the share of list price you receive, from 1% to 100% (at most two decimals).'],
    [{ expires: '2026-12-01' }, 'expires', 'Choose today or a later date, or leave it empty for no expiry.'],
  ] as const)('%j is refused on %s in plain words', (change, field, message) => {
    const result = validatePoolForm({ ...valid, ...change }, now);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual({ [field]: message });
  });

  it('accepts today as the last day, and reports every bad field at once', () => {
    expect(validatePoolForm({ ...valid, expires: '2026-12-02' }, now).ok).toBe(true);
    const result = validatePoolForm({ provider: 'anthropic', apiKey: '', faceValue: '', ratePercent: '', expires: '' }, now);
    expect(result.ok ? [] : Object.keys(result.errors)).toEqual(['apiKey', 'faceValue', 'ratePercent']);
    expect(result.ok ? null : result.errors.apiKey).toBe('Paste your Anthropic API key.');
  });
});
