// GET /api/sell/earnings — the signed-in seller's earnings (pending, available, paid), payouts and per-pool draw-down.
import { getEarningsApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getEarningsApi().getEarnings(request);
