// PATCH /api/admin/packs/:id — change a pack's terms or take it off sale (audited).
import { getPackAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ id: string }> };

export async function PATCH(request: Request, { params }: Context) {
  return getPackAdminApi().update(request, await params);
}
