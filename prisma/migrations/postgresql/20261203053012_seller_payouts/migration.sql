-- CreateEnum
CREATE TYPE "SellerPayoutStatus" AS ENUM ('PENDING', 'SIGNED', 'CONFIRMED', 'FAILED');

-- CreateTable
CREATE TABLE "SellerPayout" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "toAddress" TEXT NOT NULL,
    "chainId" INTEGER NOT NULL,
    "token" TEXT NOT NULL,
    "status" "SellerPayoutStatus" NOT NULL DEFAULT 'PENDING',
    "nonce" INTEGER,
    "rawTx" TEXT,
    "txHash" TEXT,
    "error" TEXT,
    "idempotencyKey" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "ledgerTransactionId" TEXT NOT NULL,
    "signedAt" TIMESTAMP(3),
    "confirmedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SellerPayout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "JobLease" (
    "name" TEXT NOT NULL,
    "holder" TEXT,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "lastPeriod" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "JobLease_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE UNIQUE INDEX "SellerPayout_idempotencyKey_key" ON "SellerPayout"("idempotencyKey");

-- CreateIndex
CREATE INDEX "SellerPayout_userId_createdAt_idx" ON "SellerPayout"("userId", "createdAt");

-- CreateIndex
CREATE INDEX "SellerPayout_status_idx" ON "SellerPayout"("status");

-- AddForeignKey
ALTER TABLE "SellerPayout" ADD CONSTRAINT "SellerPayout_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
