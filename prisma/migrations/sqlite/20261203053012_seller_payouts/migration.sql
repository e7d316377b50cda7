-- CreateTable
CREATE TABLE "SellerPayout" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "toAddress" TEXT NOT NULL,
    "chainId" INTEGER NOT NULL,
    "token" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'PENDING',
    "nonce" INTEGER,
    "rawTx" TEXT,
    "txHash" TEXT,
    "error" TEXT,
    "idempotencyKey" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "ledgerTransactionId" TEXT NOT NULL,
    "signedAt" DATETIME,
    "confirmedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "SellerPayout_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "JobLease" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "holder" TEXT,
    "expiresAt" DATETIME NOT NULL,
    "lastPeriod" TEXT,
    "updatedAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "SellerPayout_idempotencyKey_key" ON "SellerPayout"("idempotencyKey");

-- CreateIndex
CREATE INDEX "SellerPayout_userId_createdAt_idx" ON "SellerPayout"("userId", "createdAt");

-- CreateIndex
CREATE INDEX "SellerPayout_status_idx" ON "SellerPayout"("status");
