// GET /api/sell/pools/:id — one pool; PATCH — pause or resume it; DELETE — revoke it (its key is wiped).
import { getSellersApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ id: string }> };

export async function GET(request: Request, { params }: Context) {
  return getSellersApi().getPool(request, await params);
}

export async function PATCH(request: Request, { params }: Context) {
  return getSellersApi().updatePool(request, await params);
}

export async function DELETE(request: Request, { params }: Context) {
  return getSellersApi().revokePool(request, await params);
}
