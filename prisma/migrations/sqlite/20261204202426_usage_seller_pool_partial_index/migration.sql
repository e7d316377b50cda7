-- DropIndex
DROP INDEX "UsageRecord_sellerPoolId_createdAt_idx";

-- CreateIndex
CREATE INDEX "UsageRecord_sellerPoolId_createdAt_idx" ON "UsageRecord"("sellerPoolId", "createdAt") WHERE "sellerPoolId" IS NOT NULL;
