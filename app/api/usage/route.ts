// GET /api/usage — the caller's usage records with filters (key, model, status, time range) and a cursor.
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAccountApi().listUsage(request);
