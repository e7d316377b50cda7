/**
 * Basis points (1/100 of a percent) as a percentage for people: 1000n → "10%", 750n → "7.5%",
 * 1525n → "15.25%". Exact: no float ever touches the figure, and no trailing zeros.
 */
export function formatBasisPoints(bps: bigint): string {
  const negative = bps < 0n;
  const abs = negative ? -bps : bps;
  const fraction = (abs % 100n).toString().padStart(2, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${abs / 100n}${fraction ? `.${fraction}` : ''}%`;
}

/** The same figure as a JSON number of percent (10, 7.5): exact, since bps/100 has at most two decimals. */
export function basisPointsToPercentNumber(bps: bigint): number {
  return Number(formatBasisPoints(bps).slice(0, -1));
}
