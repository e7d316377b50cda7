-- CreateEnum
CREATE TYPE "SellerPoolStatus" AS ENUM ('LIVE', 'PAUSED', 'EXHAUSTED', 'EXPIRED', 'REVOKED');

-- AlterEnum
ALTER TYPE "AccountKind" ADD VALUE 'SELLER_EARNINGS';

-- CreateTable
CREATE TABLE "SellerPool" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "providerId" TEXT NOT NULL,
    "encryptedKey" TEXT,
    "keyHint" TEXT NOT NULL,
    "faceValue" BIGINT NOT NULL,
    "drawn" BIGINT NOT NULL DEFAULT 0,
    "rateBps" INTEGER NOT NULL,
    "status" "SellerPoolStatus" NOT NULL DEFAULT 'LIVE',
    "statusReason" TEXT,
    "expiresAt" TIMESTAMP(3),
    "verifiedAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SellerPool_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "SellerPool_providerId_status_createdAt_idx" ON "SellerPool"("providerId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "SellerPool_userId_createdAt_idx" ON "SellerPool"("userId", "createdAt");

-- AddForeignKey
ALTER TABLE "SellerPool" ADD CONSTRAINT "SellerPool_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
