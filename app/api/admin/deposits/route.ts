// GET /api/admin/deposits?status=needs_review — the review queue with on-chain facts (admin).
import { getDepositAdminApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  return getDepositAdminApi().list(request);
}
