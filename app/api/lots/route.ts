// GET /api/lots — the caller's pack lots: remaining value, status, expiry.
import { getPacksApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getPacksApi().lots(request);
