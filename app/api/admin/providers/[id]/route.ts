// PATCH /api/admin/providers/:id — enable or disable a provider with a reason (admin token; audited).
import { getAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export async function PATCH(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getAdminApi().patchProvider(request, await params);
}
