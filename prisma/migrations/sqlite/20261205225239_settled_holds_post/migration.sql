-- CreateIndex
CREATE INDEX "Hold_posted_debitAccountId_idx" ON "Hold"("debitAccountId", "resolvedAt") WHERE status = 'SETTLED' AND "settledAmount" > 0 AND "transactionId" IS NULL;
