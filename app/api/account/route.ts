// GET /api/account — the caller's user, role and wallet balance (session or management key).
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAccountApi().account(request);
