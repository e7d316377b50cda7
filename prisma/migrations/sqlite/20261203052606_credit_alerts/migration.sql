-- CreateTable
CREATE TABLE "CreditAlert" (
    "userId" TEXT NOT NULL PRIMARY KEY,
    "threshold" BIGINT NOT NULL,
    "email" BOOLEAN NOT NULL DEFAULT false,
    "webhookUrl" TEXT,
    "webhookSecret" TEXT,
    "webhookSecretHint" TEXT,
    "armed" BOOLEAN NOT NULL DEFAULT true,
    "lastAlertAt" DATETIME,
    "lastAlertBalance" BIGINT,
    "lastDeliveryError" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "CreditAlert_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "CreditAlert_armed_idx" ON "CreditAlert"("armed");
