// GET /api/deposits — the caller's deposit intents; POST /api/deposits — a new intent with its fee math.
import { getDepositApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  return getDepositApi().list(request);
}

export async function POST(request: Request) {
  return getDepositApi().create(request);
}
