// POST /api/admin/users/:id/credit — grant credit to a user's wallet (admin token; audited).
import { getAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getAdminApi().creditUser(request, await params);
}
