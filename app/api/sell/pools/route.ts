// GET /api/sell/pools — the caller's seller pools; POST /api/sell/pools — verify a provider key and list it.
import { getSellersApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getSellersApi().listPools(request);
export const POST = (request: Request) => getSellersApi().createPool(request);
