/**
 * Money is integer micro-USD (1 USD = 1_000_000 micro) held in bigint from end to end. Dollars
 * appear only at the edges: parsed from decimal strings here, formatted here for display and JSON.
 */
export type Micros = bigint;

export const MICROS_PER_USD = 1_000_000n;

const DECIMAL_USD = /^(\d{1,12})(?:\.(\d{1,6}))?$/;

/** "12.5" or 12.5 → 12_500_000n. Rejects negatives, more than 6 decimals and non-numbers. */
export function usdToMicros(value: string | number): Micros {
  const text = typeof value === 'number' ? numberToPlainString(value) : value.trim();
  const match = DECIMAL_USD.exec(text);
  if (!match) throw new RangeError(`not a USD amount with at most 6 decimals: ${String(value)}`);
  const [, whole, fraction = ''] = match;
  return BigInt(whole!) * MICROS_PER_USD + BigInt(fraction.padEnd(6, '0'));
}

function numberToPlainString(value: number): string {
  if (!Number.isFinite(value)) return 'NaN';
  // toFixed(6) would silently round 0.0000005; refuse anything that is not exactly representable.
  const text = value.toFixed(6).replace(/\.?0+$/, '');
  if (Number(text) !== value) return 'NaN';
  return text;
}

/** 12_500_000n → "12.500000" (exact, for JSON). */
export function microsToUsd(micros: Micros): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / MICROS_PER_USD;
  const fraction = (abs % MICROS_PER_USD).toString().padStart(6, '0');
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

/**
 * For JSON fields that clients read as numbers (OpenAI-style `usage.cost`): the double nearest the
 * exact amount, as parsing microsToUsd's decimal text gives. Below 2^53 micros the division gives
 * that same double (both operands are exact and IEEE division rounds correctly once) at a tenth of
 * the cost; every answer carries three or four of these. Beyond, the text is parsed.
 */
export function microsToUsdNumber(micros: Micros): number {
  return micros <= MAX_EXACT_MICROS && micros >= -MAX_EXACT_MICROS ? Number(micros) / 1_000_000 : Number(microsToUsd(micros));
}

const MAX_EXACT_MICROS = BigInt(Number.MAX_SAFE_INTEGER);

/** 12_500_000n → "$12.50"; sub-cent amounts keep their significant digits ("$0.000123"). */
export function formatUsd(micros: Micros): string {
  const text = microsToUsd(micros);
  const [whole, fraction] = text.replace('-', '').split('.') as [string, string];
  const sign = micros < 0n ? '-' : '';
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = fraction.slice(0, 2);
  const rest = fraction.slice(2).replace(/0+$/, '');
  return `${sign}$${grouped}.${cents}${rest}`;
}

/**
 * A dollar number from the JSON APIs (`cost`, `balance_usd`: exact to the micro-dollar) in the same
 * format as formatUsd: "$0.000123", "$1,234.50". Rounds to the nearest micro-dollar first, so float
 * noise (0.1 + 0.2) never shows. A missing or broken number (NaN, Infinity, undefined from an
 * older API) shows as "—" instead of throwing in the middle of a render.
 */
export function formatUsdNumber(usd: number | null | undefined): string {
  if (typeof usd !== 'number' || !Number.isFinite(usd)) return '—';
  return formatUsd(BigInt(Math.round(usd * 1_000_000)));
}

/** Ceil division for non-negative bigints: costs round up to the next micro-USD, never down. */
export function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  if (numerator <= 0n) return 0n;
  return (numerator + denominator - 1n) / denominator;
}

/** Cost of `tokens` at `pricePer1M` micro-USD per million tokens, rounded up. */
export function tokenCost(tokens: number, pricePer1M: Micros): Micros {
  return ceilDiv(BigInt(tokens) * pricePer1M, 1_000_000n);
}
