-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Model" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "ownedBy" TEXT NOT NULL,
    "contextLength" INTEGER NOT NULL,
    "maxOutputTokens" INTEGER NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'chat',
    "embeddingDimensions" INTEGER,
    "embeddingMinDimensions" INTEGER,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Model" ("contextLength", "createdAt", "enabled", "id", "maxOutputTokens", "name", "ownedBy", "updatedAt") SELECT "contextLength", "createdAt", "enabled", "id", "maxOutputTokens", "name", "ownedBy", "updatedAt" FROM "Model";
DROP TABLE "Model";
ALTER TABLE "new_Model" RENAME TO "Model";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
