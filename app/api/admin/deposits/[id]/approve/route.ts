// POST /api/admin/deposits/:id/approve — credit a deposit in review, with a note (admin; audited).
import { getDepositAdminApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getDepositAdminApi().approve(request, await params);
}
