-- CreateEnum
CREATE TYPE "PackLotKind" AS ENUM ('PACK', 'WELCOME');

-- AlterTable
ALTER TABLE "PackLot" ADD COLUMN     "kind" "PackLotKind" NOT NULL DEFAULT 'PACK',
ADD COLUMN     "playgroundOnly" BOOLEAN NOT NULL DEFAULT false,
ALTER COLUMN "packId" DROP NOT NULL;

-- CreateTable
CREATE TABLE "WelcomeGrantQuota" (
    "address" TEXT NOT NULL,
    "day" TEXT NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "WelcomeGrantQuota_pkey" PRIMARY KEY ("address","day")
);
