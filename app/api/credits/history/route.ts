// GET /api/credits/history — the caller's balance history from the ledger, totals and a 30-day chart.
import { getCreditsHistoryApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getCreditsHistoryApi().history(request);
