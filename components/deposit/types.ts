// The deposit API's JSON (lib/payments/deposits.ts), as the browser sees it.

export type DepositStatus = 'awaiting_payment' | 'verifying' | 'credited' | 'needs_review' | 'rejected' | 'expired';

export type Deposit = {
  id: string;
  status: DepositStatus;
  asset: 'USDC' | 'USDT';
  network: string;
  network_name: string;
  chain_id: number;
  credit_usd: number;
  fee_usd: number;
  gross_usd: number;
  gross_atomic: string;
  decimals: number;
  token_address: `0x${string}`;
  treasury: `0x${string}`;
  tx_hash: string | null;
  explorer_url: string | null;
  confirmations: { seen: number; required: number | null };
  review: { reason: string; message: string; note: string | null; reviewed_at: string | null } | null;
  expires_at: string;
  created_at: string;
  credited_at: string | null;
};

export type AdminDeposit = Deposit & {
  user: { id: string; email: string | null; wallet_address: string | null };
  from_address: string | null;
  observed_usd: number | null;
  reviewed_by: string | null;
  facts: Record<string, unknown>;
  ledger_transaction_id: string | null;
};

export type DepositOptions = {
  fee_percent: number;
  min_credit_usd: number;
  max_credit_usd: number;
  intent_ttl_hours: number;
  networks: Array<{
    id: string;
    name: string;
    chain_id: number;
    testnet: boolean;
    treasury: `0x${string}`;
    confirmations: number;
    automatic_verification: boolean;
    assets: Array<{ asset: 'USDC' | 'USDT'; token_address: `0x${string}`; decimals: number }>;
  }>;
};

export const STATUS_LABELS: Record<DepositStatus, string> = {
  awaiting_payment: 'Awaiting payment',
  verifying: 'Verifying on chain',
  credited: 'Credited',
  needs_review: 'In review',
  rejected: 'Rejected',
  expired: 'Expired',
};

export const STATUS_TONES: Record<DepositStatus, 'neutral' | 'brand' | 'info' | 'success' | 'warning' | 'danger'> = {
  awaiting_payment: 'info',
  verifying: 'brand',
  credited: 'success',
  needs_review: 'warning',
  rejected: 'danger',
  expired: 'neutral',
};

/** "12.5" → 12_500_000n micro-dollars, or null when it is not an amount with at most 6 decimals. */
export function parseUsdMicros(text: string): bigint | null {
  const match = /^\s*(\d{1,9})(?:\.(\d{0,6}))?\s*$/.exec(text);
  if (!match) return null;
  return BigInt(match[1]!) * 1_000_000n + BigInt((match[2] ?? '').padEnd(6, '0'));
}

/** The same fee math as the server (lib/payments/deposits.ts depositQuote): fee on top, rounded up. */
export function quote(creditMicros: bigint, feePercent: number) {
  const feeBps = BigInt(Math.round(feePercent * 100));
  const fee = (creditMicros * feeBps + 9_999n) / 10_000n;
  return { credit: creditMicros, fee, gross: creditMicros + fee };
}

export function formatMicros(micros: bigint): string {
  const whole = micros / 1_000_000n;
  const fraction = (micros % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `$${whole.toLocaleString('en-US')}.${fraction.padEnd(2, '0')}`;
}

/** An atomic token amount (6 decimals) as a plain decimal: "27.5". */
export function formatAtomic(atomic: string, decimals: number): string {
  const value = BigInt(atomic);
  const unit = 10n ** BigInt(decimals);
  const fraction = (value % unit).toString().padStart(decimals, '0').replace(/0+$/, '');
  return fraction ? `${value / unit}.${fraction}` : `${value / unit}`;
}

export const usd = (value: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 6 }).format(value);
