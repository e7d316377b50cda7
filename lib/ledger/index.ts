export { Ledger, type Hold, type HoldRef, type TransferInput, type TransferResult } from './ledger';
export { auditLedger, type AuditReport } from './audit';
export { LedgerError, type LedgerErrorCode } from './errors';
export { SYSTEM_ACCOUNTS, ensureSystemAccounts, getOrCreateWalletAccount, walletAccountId, walletCode } from './accounts';
