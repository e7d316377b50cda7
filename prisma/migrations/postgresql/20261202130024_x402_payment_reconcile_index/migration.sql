-- CreateIndex
CREATE INDEX "X402Payment_status_updatedAt_idx" ON "X402Payment"("status", "updatedAt");
