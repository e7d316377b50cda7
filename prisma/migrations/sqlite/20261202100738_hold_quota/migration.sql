-- AlterTable
ALTER TABLE "Hold" ADD COLUMN "quotaDay" TEXT;
ALTER TABLE "Hold" ADD COLUMN "quotaKeyId" TEXT;
