-- CreateTable
CREATE TABLE "SellerPool" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "providerId" TEXT NOT NULL,
    "encryptedKey" TEXT,
    "keyHint" TEXT NOT NULL,
    "faceValue" BIGINT NOT NULL,
    "drawn" BIGINT NOT NULL DEFAULT 0,
    "rateBps" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'LIVE',
    "statusReason" TEXT,
    "expiresAt" DATETIME,
    "verifiedAt" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "SellerPool_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "SellerPool_providerId_status_createdAt_idx" ON "SellerPool"("providerId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "SellerPool_userId_createdAt_idx" ON "SellerPool"("userId", "createdAt");
