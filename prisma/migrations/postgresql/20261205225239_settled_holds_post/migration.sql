-- A settled hold is its own posting (lib/ledger/holds.ts): the holds that post money, by debit
-- account and time, for an account's history. IF NOT EXISTS: on a large "Hold" table, building it
-- here blocks the hot path's writes to "Hold" for as long as it takes; an operator may build it first
-- with CREATE INDEX CONCURRENTLY under this name and definition (README, Production), and this
-- migration then finds it.
CREATE INDEX IF NOT EXISTS "Hold_posted_debitAccountId_idx" ON "Hold"("debitAccountId", "resolvedAt") WHERE status = 'SETTLED' AND "settledAmount" > 0 AND "transactionId" IS NULL;
