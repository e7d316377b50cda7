-- DropIndex
DROP INDEX "Hold_resolveIdempotencyKey_key";

-- DropIndex
DROP INDEX "Hold_transactionId_key";

-- DropIndex
DROP INDEX "Hold_status_expiresAt_idx";

-- DropIndex
DROP INDEX "Hold_debitAccountId_status_idx";

-- DropIndex
DROP INDEX "Hold_groupId_idx";

-- CreateIndex
CREATE INDEX "Hold_pending_expiresAt_idx" ON "Hold"("expiresAt") WHERE (status = 'PENDING');

-- CreateIndex
CREATE INDEX "Hold_pending_debitAccountId_idx" ON "Hold"("debitAccountId") WHERE (status = 'PENDING');

-- CreateIndex
CREATE INDEX "Hold_groupId_idx" ON "Hold"("groupId") WHERE ("groupId" IS NOT NULL);

-- CreateIndex
CREATE UNIQUE INDEX "Hold_resolveIdempotencyKey_key" ON "Hold"("resolveIdempotencyKey") WHERE ("resolveIdempotencyKey" IS NOT NULL);

-- CreateIndex
CREATE UNIQUE INDEX "Hold_transactionId_key" ON "Hold"("transactionId") WHERE ("transactionId" IS NOT NULL);
