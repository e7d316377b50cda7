// PATCH /api/keys/:id — change a key's name, models or limits; DELETE /api/keys/:id — revoke it.
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ id: string }> };

export async function PATCH(request: Request, { params }: Context) {
  return getAccountApi().updateKey(request, await params);
}

export async function DELETE(request: Request, { params }: Context) {
  return getAccountApi().revokeKey(request, await params);
}
