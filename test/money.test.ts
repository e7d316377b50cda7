import { describe, expect, it } from 'vitest';
import { microsToUsdNumber } from '../lib/money';

/** The amount's decimal text made here, digit by digit, and parsed by the engine: the double nearest the exact amount. */
function parsedDecimal(micros: bigint): number {
  const digits = (micros < 0n ? -micros : micros).toString().padStart(7, '0');
  return Number(`${micros < 0n ? '-' : ''}${digits.slice(0, -6)}.${digits.slice(-6)}`);
}

describe('microsToUsdNumber', () => {
  it('is the double nearest the exact amount, at known values', () => {
    expect(microsToUsdNumber(0n)).toBe(0);
    expect(microsToUsdNumber(1n)).toBe(0.000001);
    expect(microsToUsdNumber(10n)).toBe(0.00001);
    expect(microsToUsdNumber(123_456_789n)).toBe(123.456789);
    expect(microsToUsdNumber(-2_500_000n)).toBe(-2.5);
    expect(microsToUsdNumber(9_007_199_254_740_991n)).toBe(9007199254.740991);
    expect(microsToUsdNumber(-9_007_199_254_740_991n)).toBe(-9007199254.740991);
    expect(microsToUsdNumber(9_007_199_254_740_992n)).toBe(9007199254.740992);
    expect(microsToUsdNumber(-9_007_199_254_740_992n)).toBe(-9007199254.740992);
    // Past 2^53 micros the amount itself is not a double: still the nearest one.
    expect(microsToUsdNumber(9_007_199_254_740_993n)).toBe(9007199254.740993);
    expect(microsToUsdNumber(123_456_789_012_345_678_901n)).toBe(123456789012345.678901);
  });

  it('agrees with the parsed decimal text over random amounts of every size', () => {
    // A fixed generator (xorshift), so that a failure names an amount that fails again.
    let state = 0x2545f491n;
    const next = () => {
      state ^= (state << 13n) & 0xffffffffffffffffn;
      state ^= state >> 7n;
      state ^= (state << 17n) & 0xffffffffffffffffn;
      return state;
    };
    for (let i = 0; i < 20_000; i++) {
      const bits = BigInt(1 + (i % 70));
      const magnitude = next() % (1n << bits);
      const micros = i % 3 === 0 ? -magnitude : magnitude;
      expect(microsToUsdNumber(micros), `${micros} micros`).toBe(parsedDecimal(micros));
    }
  });
});
