// POST /api/admin/redemption-codes — issue a batch of credit codes, shown once (admin token; audited).
import { getAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getAdminApi().createRedemptionCodes(request);
