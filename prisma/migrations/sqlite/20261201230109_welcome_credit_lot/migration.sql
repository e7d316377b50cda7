-- CreateTable
CREATE TABLE "WelcomeGrantQuota" (
    "address" TEXT NOT NULL,
    "day" TEXT NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 0,

    PRIMARY KEY ("address", "day")
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_PackLot" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'PACK',
    "packId" TEXT,
    "accountId" TEXT NOT NULL,
    "faceValue" BIGINT NOT NULL,
    "scopeProviderId" TEXT,
    "scopeModelId" TEXT,
    "playgroundOnly" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL DEFAULT 'ACTIVE',
    "purchasedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" DATETIME NOT NULL,
    CONSTRAINT "PackLot_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "PackLot_packId_fkey" FOREIGN KEY ("packId") REFERENCES "Pack" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "PackLot_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "LedgerAccount" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_PackLot" ("accountId", "expiresAt", "faceValue", "id", "packId", "purchasedAt", "scopeModelId", "scopeProviderId", "status", "userId") SELECT "accountId", "expiresAt", "faceValue", "id", "packId", "purchasedAt", "scopeModelId", "scopeProviderId", "status", "userId" FROM "PackLot";
DROP TABLE "PackLot";
ALTER TABLE "new_PackLot" RENAME TO "PackLot";
CREATE UNIQUE INDEX "PackLot_accountId_key" ON "PackLot"("accountId");
CREATE INDEX "PackLot_userId_status_expiresAt_idx" ON "PackLot"("userId", "status", "expiresAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
