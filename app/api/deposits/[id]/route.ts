// GET /api/deposits/:id — one of the caller's deposits, with its verification progress.
import { getDepositApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getDepositApi().get(request, await params);
}
