// GET /api/deposits/options — networks, assets, treasury and fee a deposit can use (public).
import { getDepositApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  return getDepositApi().options(request);
}
