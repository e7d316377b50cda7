// GET /api/admin/deposits/:id — one deposit with its owner and on-chain facts (admin).
import { getDepositAdminApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getDepositAdminApi().get(request, await params);
}
