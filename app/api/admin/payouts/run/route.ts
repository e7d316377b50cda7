// POST /api/admin/payouts/run — run this period's seller payouts now (admin; audited).
import { getPayoutAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getPayoutAdminApi().runPayouts(request);
