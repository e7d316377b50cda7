import { sql, type SqlExecutor } from '../db/sql';
import type { Micros } from '../money';

export type UsageRow = {
  id: string;
  requestId: string;
  userId: string;
  apiKeyId: string | null;
  modelId: string;
  providerId: string | null;
  stream: boolean;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  cost: Micros;
  latencyMs: number;
  status: 'SUCCESS' | 'CLIENT_ABORTED' | 'UPSTREAM_ERROR';
  errorCode: string | null;
  createdAt: Date;
};

/** One usage record, written in the settlement's (or release's) transaction. */
export async function insertUsage(tx: SqlExecutor, u: UsageRow): Promise<void> {
  await tx.execute(
    sql`INSERT INTO "UsageRecord" ("id", "requestId", "userId", "apiKeyId", "modelId", "providerId", "stream", "promptTokens", "completionTokens", "cachedTokens", "cost", "latencyMs", "status", "errorCode", "createdAt") VALUES (${u.id}, ${u.requestId}, ${u.userId}, ${u.apiKeyId}, ${u.modelId}, ${u.providerId}, ${u.stream}, ${u.promptTokens}, ${u.completionTokens}, ${u.cachedTokens}, ${u.cost}, ${u.latencyMs}, ${u.status}, ${u.errorCode}, ${u.createdAt})`,
  );
}
