// POST /api/admin/deposits/:id/reject — reject a deposit in review, with a reason (admin; audited).
import { getDepositAdminApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getDepositAdminApi().reject(request, await params);
}
