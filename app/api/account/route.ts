// GET /api/account — the caller's user, role and wallet balance (session or management key).
import { accountInfoResponse } from '@/lib/account/account-info';
import { getDb } from '@/lib/db/client';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => accountInfoResponse(getDb(), request);
