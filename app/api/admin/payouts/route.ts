// GET /api/admin/payouts?status=confirmed&limit=100 — recent seller payouts with status and tx hash (admin).
import { getPayoutAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getPayoutAdminApi().listPayouts(request);
