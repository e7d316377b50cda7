-- AlterTable
ALTER TABLE "Hold" ADD COLUMN "groupId" TEXT;

-- AlterTable
ALTER TABLE "ApiKey" ADD COLUMN "budgetSnapshotAt" DATETIME;
ALTER TABLE "ApiKey" ADD COLUMN "budgetWallet" TEXT;
ALTER TABLE "ApiKey" ADD COLUMN "budgetWalletAtomic" BIGINT;

-- CreateTable
CREATE TABLE "AuthAccount" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "providerAccountId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AuthAccount_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "VerificationToken" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "identifier" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "expiresAt" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "DevMail" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "to" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "html" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "SiweNonce" (
    "nonce" TEXT NOT NULL PRIMARY KEY,
    "expiresAt" DATETIME NOT NULL,
    "usedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "updatedBy" TEXT,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "X402Payment" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "version" INTEGER NOT NULL,
    "network" TEXT NOT NULL,
    "asset" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "payer" TEXT NOT NULL,
    "payTo" TEXT NOT NULL,
    "valueAtomic" BIGINT NOT NULL,
    "amount" BIGINT NOT NULL,
    "validAfter" DATETIME NOT NULL,
    "validBefore" DATETIME NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'VERIFIED',
    "txHash" TEXT,
    "requestId" TEXT,
    "userId" TEXT,
    "charged" BIGINT,
    "ledgerTransactionId" TEXT,
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_DepositIntent" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "asset" TEXT NOT NULL,
    "chainId" INTEGER NOT NULL,
    "credit" BIGINT NOT NULL,
    "fee" BIGINT NOT NULL,
    "grossAtomic" BIGINT NOT NULL,
    "treasury" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'AWAITING_PAYMENT',
    "network" TEXT NOT NULL DEFAULT '',
    "tokenAddress" TEXT NOT NULL DEFAULT '',
    "txHash" TEXT,
    "logIndex" INTEGER,
    "fromAddress" TEXT,
    "observedAtomic" BIGINT,
    "confirmations" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastCheckedAt" DATETIME,
    "nextCheckAt" DATETIME,
    "facts" TEXT,
    "reviewReason" TEXT,
    "reviewedBy" TEXT,
    "reviewNote" TEXT,
    "reviewedAt" DATETIME,
    "creditedAt" DATETIME,
    "ledgerTransactionId" TEXT,
    "expiresAt" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "DepositIntent_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_DepositIntent" ("asset", "chainId", "createdAt", "credit", "expiresAt", "fee", "grossAtomic", "id", "logIndex", "reviewReason", "status", "treasury", "txHash", "updatedAt", "userId") SELECT "asset", "chainId", "createdAt", "credit", "expiresAt", "fee", "grossAtomic", "id", "logIndex", "reviewReason", "status", "treasury", "txHash", "updatedAt", "userId" FROM "DepositIntent";
DROP TABLE "DepositIntent";
ALTER TABLE "new_DepositIntent" RENAME TO "DepositIntent";
CREATE INDEX "DepositIntent_userId_createdAt_idx" ON "DepositIntent"("userId", "createdAt");
CREATE INDEX "DepositIntent_status_nextCheckAt_idx" ON "DepositIntent"("status", "nextCheckAt");
CREATE UNIQUE INDEX "DepositIntent_chainId_txHash_logIndex_key" ON "DepositIntent"("chainId", "txHash", "logIndex");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

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
