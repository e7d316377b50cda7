-- CreateTable
CREATE TABLE "CreditAlert" (
    "userId" TEXT NOT NULL,
    "threshold" BIGINT NOT NULL,
    "email" BOOLEAN NOT NULL DEFAULT false,
    "webhookUrl" TEXT,
    "webhookSecret" TEXT,
    "webhookSecretHint" TEXT,
    "armed" BOOLEAN NOT NULL DEFAULT true,
    "lastAlertAt" TIMESTAMP(3),
    "lastAlertBalance" BIGINT,
    "lastDeliveryError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "CreditAlert_pkey" PRIMARY KEY ("userId")
);

-- CreateIndex
CREATE INDEX "CreditAlert_armed_idx" ON "CreditAlert"("armed");

-- AddForeignKey
ALTER TABLE "CreditAlert" ADD CONSTRAINT "CreditAlert_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
