import { createHash } from 'node:crypto';
import type { Db } from '../db/client';
import { newId } from '../ids';
import { conflict, invalidRequest, prismaErrorCode } from '../http/errors';
import { logger } from '../logger';
import { dateAt, nowMs } from '../clock';

const TTL_MS = 24 * 60 * 60 * 1000;
const IN_PROGRESS = 0;

export type IdempotencyClaim = { kind: 'claimed'; recordId: string } | { kind: 'replay'; response: Response };

export function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/**
 * Claims `Idempotency-Key` for this key's scope. The first request inserts an in-progress record;
 * a repeat with the same body gets the stored response, a repeat with another body a 409, and a
 * repeat while the first is still running a 409 too (it is safe to retry after).
 *
 * An in-progress record lives `inProgressMs` (the hold TTL), pushed further while its call runs
 * (extendIdempotencyKey, with the call's holds): a call whose process died frees its key when its
 * holds lapse, instead of answering "in progress" for a day. A completed one is kept a day.
 */
export async function claimIdempotencyKey({ db, scope, key, hash, inProgressMs }: { db: Db; scope: string; key: string; hash: string; inProgressMs: number }): Promise<IdempotencyClaim> {
  if (key.length > 255) throw invalidRequest('Idempotency-Key must be at most 255 characters.', 'Idempotency-Key');
  for (let attempt = 0; attempt < 2; attempt++) {
    const recordId = newId('idem');
    try {
      await db.idempotencyRecord.create({
        data: { id: recordId, scope, key, requestHash: hash, statusCode: IN_PROGRESS, body: '', expiresAt: dateAt(nowMs() + inProgressMs) },
        select: { id: true },
      });
      return { kind: 'claimed', recordId };
    } catch (error) {
      if (prismaErrorCode(error) !== 'P2002') throw error;
    }
    const existing = await db.idempotencyRecord.findUnique({ where: { scope_key: { scope, key } } });
    if (!existing) continue;
    if (existing.expiresAt.getTime() <= nowMs()) {
      await db.idempotencyRecord.deleteMany({ where: { id: existing.id } });
      continue;
    }
    if (existing.requestHash !== hash) {
      throw conflict('idempotency_key_reused', 'This Idempotency-Key was already used with a different request body.');
    }
    if (existing.statusCode === IN_PROGRESS) {
      throw conflict('idempotency_request_in_progress', 'A request with this Idempotency-Key is still in progress; retry when it has finished.');
    }
    return {
      kind: 'replay',
      response: new Response(existing.body, {
        status: existing.statusCode,
        headers: { 'content-type': existing.contentType, 'idempotent-replayed': 'true' },
      }),
    };
  }
  throw conflict('idempotency_request_in_progress', 'A request with this Idempotency-Key is being processed.');
}

/**
 * Stores a call's answer for replays. Never throws: the call is served and charged by now, and a
 * record that could not be stored (the database failing, or the claim lapsed and taken over by a
 * retry) costs only the replay, which is logged.
 */
export async function completeIdempotencyKey({ db, recordId, statusCode, body, contentType }: { db: Db; recordId: string; statusCode: number; body: string; contentType: string }): Promise<void> {
  try {
    const { count } = await db.idempotencyRecord.updateMany({ where: { id: recordId, statusCode: IN_PROGRESS }, data: { statusCode, body, contentType, expiresAt: dateAt(nowMs() + TTL_MS) } });
    if (count === 0) logger.warn('an Idempotency-Key lapsed before its call completed; its answer is not stored for replay', { recordId });
  } catch (error) {
    logger.error('could not store an Idempotency-Key answer for replay', { recordId, error });
  }
}

/** Keeps a call's in-progress record alive to `expiresAt`, as its holds are (lib/gateway/call.ts). */
export async function extendIdempotencyKey({ db, recordId, expiresAt }: { db: Db; recordId: string; expiresAt: Date }) {
  await db.idempotencyRecord.updateMany({ where: { id: recordId, statusCode: IN_PROGRESS }, data: { expiresAt } });
}

/** Frees the key after a failure that charged nothing, so the client may retry with it. */
export async function abandonIdempotencyKey({ db, recordId }: { db: Db; recordId: string }) {
  await db.idempotencyRecord.deleteMany({ where: { id: recordId } });
}
