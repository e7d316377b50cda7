// GET /api/auth/link-email/confirm — the mailed link: adds the address, then back to the dashboard.
import { getAuthApi } from '@/lib/auth/auth-api';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAuthApi().confirmEmailLink(request);
