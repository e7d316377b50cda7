import { sql, type SqlExecutor } from './db/sql';
import { newId } from './ids';

export type AuditInput = { actor: string; action: string; targetType: string; targetId: string | null; details: Record<string, unknown> };

/** An audit row's data. Details are JSON text; bigints become strings; never put secrets here. */
export function auditData(input: AuditInput) {
  return {
    id: newId('aud'),
    actor: input.actor,
    action: input.action,
    targetType: input.targetType,
    targetId: input.targetId,
    details: JSON.stringify(input.details, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)),
    createdAt: new Date(),
  };
}

/** The same row written inside a ledger operation's transaction. */
export async function insertAudit(tx: SqlExecutor, input: AuditInput): Promise<void> {
  const row = auditData(input);
  await tx.execute(
    sql`INSERT INTO "AuditLog" ("id", "actor", "action", "targetType", "targetId", "details", "createdAt") VALUES (${row.id}, ${row.actor}, ${row.action}, ${row.targetType}, ${row.targetId}, ${row.details}, ${row.createdAt})`,
  );
}
