-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "AccountKind" ADD VALUE 'SELLER_POOL';
ALTER TYPE "AccountKind" ADD VALUE 'SELLER_CAPACITY';
ALTER TYPE "AccountKind" ADD VALUE 'PAYOUTS';

-- AlterTable
ALTER TABLE "UsageRecord" ADD COLUMN     "sellerPoolId" TEXT;

-- CreateIndex
CREATE INDEX "UsageRecord_sellerPoolId_createdAt_idx" ON "UsageRecord"("sellerPoolId", "createdAt");
