// GET /api/keys — the caller's keys, masked; POST /api/keys — create one (secret shown once).
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAccountApi().listKeys(request);
export const POST = (request: Request) => getAccountApi().createKey(request);
