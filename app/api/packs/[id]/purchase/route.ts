// POST /api/packs/:id/purchase — buy a pack with the wallet balance; creates a lot.
import { getPacksApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ id: string }> };

export async function POST(request: Request, { params }: Context) {
  return getPacksApi().purchase(request, await params);
}
