-- CreateEnum
CREATE TYPE "SessionChannelStatus" AS ENUM ('OPEN', 'CLOSING', 'CLOSED');

-- AlterEnum
ALTER TYPE "AccountKind" ADD VALUE 'SESSION_CHANNEL';

-- CreateTable
CREATE TABLE "SessionChannel" (
    "id" TEXT NOT NULL,
    "chainId" INTEGER NOT NULL,
    "escrow" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "payer" TEXT NOT NULL,
    "payee" TEXT NOT NULL,
    "authorizedSigner" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "accountId" TEXT NOT NULL,
    "deposit" BIGINT NOT NULL,
    "acceptedCumulative" BIGINT NOT NULL DEFAULT 0,
    "voucherSignature" TEXT,
    "openTxHash" TEXT NOT NULL,
    "status" "SessionChannelStatus" NOT NULL DEFAULT 'OPEN',
    "closeAmount" BIGINT,
    "closeTxHash" TEXT,
    "error" TEXT,
    "lastUsedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SessionChannel_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SessionChannel_accountId_key" ON "SessionChannel"("accountId");

-- CreateIndex
CREATE INDEX "SessionChannel_status_lastUsedAt_idx" ON "SessionChannel"("status", "lastUsedAt");

-- CreateIndex
CREATE INDEX "SessionChannel_payer_idx" ON "SessionChannel"("payer");
