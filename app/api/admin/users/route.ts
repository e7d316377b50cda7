// POST /api/admin/users — create a user (admin token; audited).
import { getAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getAdminApi().createUser(request);
