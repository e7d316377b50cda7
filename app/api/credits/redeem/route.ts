// POST /api/credits/redeem — redeem a credit code into the caller's wallet, once.
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getAccountApi().redeem(request);
