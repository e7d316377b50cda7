export type LedgerErrorCode =
  | 'insufficient_funds'
  | 'account_not_found'
  | 'hold_not_found'
  | 'hold_already_resolved'
  | 'settle_exceeds_hold'
  | 'idempotency_conflict'
  | 'invalid_transaction';

export class LedgerError extends Error {
  readonly code: LedgerErrorCode;

  constructor(code: LedgerErrorCode, message: string) {
    super(message);
    this.name = 'LedgerError';
    this.code = code;
  }
}

/** Prisma's known-request error code (P2002, P2025, …), read by shape: each generated client has its own class. */
export function prismaErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && /^P\d{4}$/.test(error.code)) {
    return error.code;
  }
  return undefined;
}
