// GET /api/admin/settings — operator settings changed at run time (admin).
import { getSettingsAdminApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  return getSettingsAdminApi().list(request);
}
