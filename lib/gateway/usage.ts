import { sql, type SqlExecutor } from '../db/sql';
import type { UsageRecord } from '../db/generated/sqlite/client';

/** A usage record's row: exactly the Prisma model, written here as plain SQL on the hot path. */
export type UsageRow = UsageRecord;

/** One usage record, written in the settlement's (or release's) transaction. */
export async function insertUsage(tx: SqlExecutor, u: UsageRow): Promise<void> {
  await tx.execute(
    sql`INSERT INTO "UsageRecord" ("id", "requestId", "userId", "apiKeyId", "modelId", "providerId", "stream", "promptTokens", "completionTokens", "cachedTokens", "cost", "latencyMs", "status", "errorCode", "createdAt") VALUES (${u.id}, ${u.requestId}, ${u.userId}, ${u.apiKeyId}, ${u.modelId}, ${u.providerId}, ${u.stream}, ${u.promptTokens}, ${u.completionTokens}, ${u.cachedTokens}, ${u.cost}, ${u.latencyMs}, ${u.status}, ${u.errorCode}, ${u.createdAt})`,
  );
}
