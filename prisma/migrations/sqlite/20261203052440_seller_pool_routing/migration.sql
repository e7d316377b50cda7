-- AlterTable
ALTER TABLE "UsageRecord" ADD COLUMN "sellerPoolId" TEXT;

-- CreateIndex
CREATE INDEX "UsageRecord_sellerPoolId_createdAt_idx" ON "UsageRecord"("sellerPoolId", "createdAt");
