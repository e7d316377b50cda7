export type LedgerErrorCode =
  | 'insufficient_funds'
  | 'account_not_found'
  | 'hold_not_found'
  | 'hold_already_resolved'
  /** The sweeper released the hold (its call outlived it): settleLate charges what is still there. */
  | 'hold_expired'
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
