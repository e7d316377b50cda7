-- CreateEnum
CREATE TYPE "X402PaymentStatus" AS ENUM ('VERIFIED', 'SETTLED', 'FAILED');

-- AlterEnum
ALTER TYPE "AccountKind" ADD VALUE 'BREAKAGE';

-- DropIndex
DROP INDEX "DepositIntent_status_idx";

-- AlterTable
ALTER TABLE "Hold" ADD COLUMN     "groupId" TEXT;

-- AlterTable
ALTER TABLE "ApiKey" ADD COLUMN     "budgetSnapshotAt" TIMESTAMP(3),
ADD COLUMN     "budgetWallet" TEXT,
ADD COLUMN     "budgetWalletAtomic" BIGINT;

-- AlterTable
ALTER TABLE "DepositIntent" ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "confirmations" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "creditedAt" TIMESTAMP(3),
ADD COLUMN     "facts" TEXT,
ADD COLUMN     "fromAddress" TEXT,
ADD COLUMN     "lastCheckedAt" TIMESTAMP(3),
ADD COLUMN     "ledgerTransactionId" TEXT,
ADD COLUMN     "network" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "nextCheckAt" TIMESTAMP(3),
ADD COLUMN     "observedAtomic" BIGINT,
ADD COLUMN     "reviewNote" TEXT,
ADD COLUMN     "reviewedAt" TIMESTAMP(3),
ADD COLUMN     "reviewedBy" TEXT,
ADD COLUMN     "tokenAddress" TEXT NOT NULL DEFAULT '';

-- CreateTable
CREATE TABLE "AuthAccount" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "providerAccountId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuthAccount_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VerificationToken" (
    "id" TEXT NOT NULL,
    "identifier" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VerificationToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DevMail" (
    "id" TEXT NOT NULL,
    "to" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "html" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DevMail_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SiweNonce" (
    "nonce" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SiweNonce_pkey" PRIMARY KEY ("nonce")
);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updatedBy" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Setting_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "X402Payment" (
    "id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "network" TEXT NOT NULL,
    "asset" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "payer" TEXT NOT NULL,
    "payTo" TEXT NOT NULL,
    "valueAtomic" BIGINT NOT NULL,
    "amount" BIGINT NOT NULL,
    "validAfter" TIMESTAMP(3) NOT NULL,
    "validBefore" TIMESTAMP(3) NOT NULL,
    "status" "X402PaymentStatus" NOT NULL DEFAULT 'VERIFIED',
    "txHash" TEXT,
    "requestId" TEXT,
    "userId" TEXT,
    "charged" BIGINT,
    "ledgerTransactionId" TEXT,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "X402Payment_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AuthAccount_userId_idx" ON "AuthAccount"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "AuthAccount_provider_providerAccountId_key" ON "AuthAccount"("provider", "providerAccountId");

-- CreateIndex
CREATE UNIQUE INDEX "VerificationToken_tokenHash_key" ON "VerificationToken"("tokenHash");

-- CreateIndex
CREATE INDEX "VerificationToken_identifier_idx" ON "VerificationToken"("identifier");

-- CreateIndex
CREATE INDEX "DevMail_to_createdAt_idx" ON "DevMail"("to", "createdAt");

-- CreateIndex
CREATE INDEX "X402Payment_payer_createdAt_idx" ON "X402Payment"("payer", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "X402Payment_network_asset_nonce_key" ON "X402Payment"("network", "asset", "nonce");

-- CreateIndex
CREATE INDEX "Hold_groupId_idx" ON "Hold"("groupId");

-- CreateIndex
CREATE INDEX "DepositIntent_status_nextCheckAt_idx" ON "DepositIntent"("status", "nextCheckAt");

-- AddForeignKey
ALTER TABLE "AuthAccount" ADD CONSTRAINT "AuthAccount_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
