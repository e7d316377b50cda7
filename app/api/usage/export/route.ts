// GET /api/usage/export — the caller's usage records as CSV.
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAccountApi().exportUsage(request);
