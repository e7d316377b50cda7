// GET /api/admin/packs — every pack; POST /api/admin/packs — add one to the shop (audited).
import { getPackAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getPackAdminApi().list(request);
export const POST = (request: Request) => getPackAdminApi().create(request);
