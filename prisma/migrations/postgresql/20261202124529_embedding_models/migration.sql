-- AlterTable
ALTER TABLE "Model" ADD COLUMN     "embeddingDimensions" INTEGER,
ADD COLUMN     "embeddingMinDimensions" INTEGER,
ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'chat';
