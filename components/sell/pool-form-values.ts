import { PROVIDER_NAMES, SELL_PROVIDERS, type SellProvider } from './api';

/** What the seller typed, as text; the rate as a percentage ("60" means 60 %). */
export type PoolFormValues = {
  provider: SellProvider;
  apiKey: string;
  faceValue: string;
  ratePercent: string;
  /** YYYY-MM-DD from a date input, or empty for no expiry. */
  expires: string;
};

export type PoolFormField = keyof PoolFormValues;

/** The order fields appear in, so focus goes to the first one that needs fixing. */
export const POOL_FORM_FIELDS: readonly PoolFormField[] = ['provider', 'apiKey', 'faceValue', 'ratePercent', 'expires'];

/** POST /api/sell/pools's body (README, "Selling spare provider credit"). */
export type CreatePoolBody = {
  provider: SellProvider;
  api_key: string;
  face_value_usd: string;
  rate: string;
  expires_at: string | null;
};

export type PoolFormResult = { ok: true; body: CreatePoolBody } | { ok: false; errors: Partial<Record<PoolFormField, string>> };

/** The server's field names, so a server error with `param` lands on the field the seller typed. */
export const FIELD_OF_PARAM: Record<string, PoolFormField> = {
  provider: 'provider',
  api_key: 'apiKey',
  face_value_usd: 'faceValue',
  rate: 'ratePercent',
  expires_at: 'expires',
};

export const emptyPoolForm = (): PoolFormValues => ({ provider: 'openai', apiKey: '', faceValue: '', ratePercent: '60', expires: '' });

/**
 * "60" → "0.6", "62.5" → "0.625", "100" → "1": computed on the digits, not with floats, so the
 * server (which takes at most 4 decimals) receives exactly what was typed. Null when not a
 * percentage from 1 to 100 with at most two decimals.
 */
export function percentToRate(text: string): string | null {
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(text.trim().replace(/\s*%$/, ''));
  if (!match) return null;
  const bps = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
  if (bps < 100 || bps > 10_000) return null;
  if (bps === 10_000) return '1';
  return `0.${String(bps).padStart(4, '0').replace(/0+$/, '')}`;
}

/**
 * Checks the form in the seller's words (the server's schema checks again, in an API's words) and
 * builds the request body. Limits mirror lib/sellers/schemas.ts: face value $1 to $1,000,000 with
 * at most 6 decimals, a key of 8 to 512 printable characters without spaces, an expiry in the future.
 */
export function validatePoolForm(values: PoolFormValues, now = new Date()): PoolFormResult {
  const errors: Partial<Record<PoolFormField, string>> = {};
  const providerName = PROVIDER_NAMES[values.provider] ?? 'provider';

  if (!SELL_PROVIDERS.includes(values.provider)) errors.provider = 'Choose the provider the key belongs to.';

  const apiKey = values.apiKey.trim();
  if (apiKey === '') errors.apiKey = `Paste your ${providerName} API key.`;
  else if (apiKey.length < 8) errors.apiKey = 'That is too short to be an API key: check that you pasted all of it.';
  else if (apiKey.length > 512) errors.apiKey = 'That is longer than any provider API key: check what you pasted.';
  else if (!/^[\x21-\x7e]+$/.test(apiKey)) errors.apiKey = 'An API key has no spaces or accented characters: check what you pasted.';

  // People type "$1,000": the symbol and thousands separators are not part of the amount.
  const face = values.faceValue.trim().replace(/^\$\s*/, '').replaceAll(',', '');
  if (face === '') errors.faceValue = 'Enter a face value of at least $1.';
  else if (!/^\d+(\.\d{1,6})?$/.test(face)) errors.faceValue = 'Enter the face value as a dollar amount, like 250 or 99.50.';
  else if (Number(face) < 1) errors.faceValue = 'Enter a face value of at least $1.';
  else if (Number(face) > 1_000_000) errors.faceValue = 'The face value can be at most $1,000,000.';

  const rate = percentToRate(values.ratePercent);
  if (rate === null) errors.ratePercent = 'Enter the share of list price you receive, from 1% to 100% (at most two decimals).';

  let expiresAt: string | null = null;
  if (values.expires.trim() !== '') {
    // A date means "through the end of that day, UTC", as on API keys.
    const end = /^\d{4}-\d{2}-\d{2}$/.test(values.expires) ? new Date(`${values.expires}T23:59:59.999Z`) : null;
    if (!end || Number.isNaN(end.getTime())) errors.expires = 'Enter the expiry as a date, or leave it empty.';
    else if (end.getTime() <= now.getTime()) errors.expires = 'Choose today or a later date, or leave it empty for no expiry.';
    else expiresAt = end.toISOString();
  }

  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, body: { provider: values.provider, api_key: apiKey, face_value_usd: face, rate: rate!, expires_at: expiresAt } };
}
