// POST /api/credits/alerts/test — sends a test alert on the saved channels now.
import { getCreditAlertsApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getCreditAlertsApi().test(request);
