// GET/PUT/DELETE /api/credits/alerts — the caller's low-balance alert (threshold, email, signed webhook).
import { getCreditAlertsApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getCreditAlertsApi().get(request);
export const PUT = (request: Request) => getCreditAlertsApi().put(request);
export const DELETE = (request: Request) => getCreditAlertsApi().remove(request);
