import type { Db } from '../db/client';
import { invalidRequest } from '../http/errors';
import { createGuards } from '../http/guards';
import { json } from '../http/json';
import { newId } from '../ids';
import { walletAccountId } from '../ledger/accounts';
import { Ledger } from '../ledger/ledger';
import { microsToUsdNumber } from '../money';
import { listLots } from './lots';
import { listPacks, purchasePack } from './packs';

const IDEMPOTENCY_KEY = /^[\w.:-]{1,200}$/;

/** The pack shop's JSON API: the catalog (public), buying with the wallet, and the buyer's lots. */
export function createPacksApi({ db }: { db: Db }) {
  const ledger = new Ledger(db);
  const guard = createGuards({ db });

  // GET /api/packs — the shop, no sign-in needed.
  const list = guard.public(async () => json({ object: 'list', data: await listPacks(db) }));

  // POST /api/packs/:id/purchase — pays the price from the wallet; Idempotency-Key makes a retry safe.
  const purchase = guard.principal(async ({ request, principal, params }) => {
    const header = request.headers.get('idempotency-key');
    if (header !== null && !IDEMPOTENCY_KEY.test(header)) {
      throw invalidRequest('Idempotency-Key must be 1–200 letters, digits or . _ : -', 'Idempotency-Key');
    }
    const { lot, replayed } = await purchasePack({ db, ledger, userId: principal.userId, packId: params.id!, idempotencyKey: header ?? newId('idem') });
    const wallet = await db.ledgerAccount.findUnique({ where: { id: walletAccountId(principal.userId) }, select: { balance: true } });
    return json({ lot, balance_usd: microsToUsdNumber(wallet?.balance ?? 0n), replayed }, { status: replayed ? 200 : 201 });
  });

  // GET /api/lots — the caller's lots with what is left of each.
  const lots = guard.principal(async ({ principal }) => json({ object: 'list', data: await listLots(db, { userId: principal.userId }) }));

  return { list, purchase, lots };
}

export type PacksApi = ReturnType<typeof createPacksApi>;
