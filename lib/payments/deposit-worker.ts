import type { Db } from '../db/client';
import { logger } from '../logger';
import type { PaymentsConfig } from './networks';
import { verifyIntent, type VerifyDeps, type VerifyOutcome } from './verify';

export type DepositSweep = { expired: number; checked: number; outcomes: VerifyOutcome[] };

/**
 * One pass of the deposit worker: expires intents nobody paid in time, then checks every intent
 * whose next check is due (attached hash not yet decided), oldest first. Each check schedules the
 * next one itself (nextCheckAt, backing off while the chain does not know the hash).
 */
export async function runDepositWorkerOnce(deps: VerifyDeps & { limit?: number }): Promise<DepositSweep> {
  const { db } = deps;
  const now = deps.now?.() ?? new Date();
  const { count: expired } = await db.depositIntent.updateMany({
    where: { status: 'AWAITING_PAYMENT', expiresAt: { lte: now } },
    data: { status: 'EXPIRED', nextCheckAt: null },
  });
  const due = await db.depositIntent.findMany({
    where: { status: 'VERIFYING', OR: [{ nextCheckAt: null }, { nextCheckAt: { lte: now } }] },
    orderBy: [{ nextCheckAt: 'asc' }],
    take: deps.limit ?? 50,
    select: { id: true },
  });
  const outcomes: VerifyOutcome[] = [];
  for (const { id } of due) outcomes.push(await verifyIntent(deps, id));
  return { expired, checked: due.length, outcomes };
}

const globalForWorker = globalThis as unknown as { tollgateDepositWorker?: { timer: NodeJS.Timeout; stop(): void } };

/**
 * Starts the background worker once per process (Next bundles modules into several chunks, so the
 * handle lives on globalThis). Passes never overlap; a failed pass is logged and the next one runs.
 */
export function startDepositWorker({ db, getConfig }: { db: Db; getConfig: () => PaymentsConfig }) {
  if (globalForWorker.tollgateDepositWorker) return globalForWorker.tollgateDepositWorker;
  let config: PaymentsConfig;
  try {
    config = getConfig();
  } catch (error) {
    logger.error('deposit worker not started: the payment configuration is invalid', { error });
    return null;
  }
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    runDepositWorkerOnce({ db, config })
      .then((sweep) => {
        if (sweep.expired || sweep.checked) logger.info('deposit worker pass', { expired: sweep.expired, checked: sweep.checked });
      })
      .catch((error: unknown) => logger.error('deposit worker pass failed', { error }))
      .finally(() => {
        running = false;
      });
  };
  const timer = setInterval(tick, config.worker.intervalMs);
  timer.unref();
  const handle = {
    timer,
    stop() {
      clearInterval(timer);
      delete globalForWorker.tollgateDepositWorker;
    },
  };
  globalForWorker.tollgateDepositWorker = handle;
  return handle;
}
