/** Micro-USD as dollars for display: "$1,739.13" (half-up to the cent), or "$2,000" with `whole` when there are no cents. */
export function formatCents(micros: bigint, { whole = false }: { whole?: boolean } = {}): string {
  const negative = micros < 0n;
  const cents = ((negative ? -micros : micros) + 5_000n) / 10_000n;
  const dollars = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const rest = (cents % 100n).toString().padStart(2, '0');
  const text = whole && rest === '00' ? `$${dollars}` : `$${dollars}.${rest}`;
  return negative ? `-${text}` : text;
}
