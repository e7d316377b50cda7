// GET /api/packs — the pack shop's catalog (public).
import { getPacksApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getPacksApi().list(request);
