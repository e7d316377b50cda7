// POST /api/deposits/:id/tx — attach the payment's transaction hash; verification starts at once.
import { getDepositApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getDepositApi().attachTx(request, await params);
}
