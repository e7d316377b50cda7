// PUT /api/admin/settings/:key {value} — change a run-time setting, e.g. wallet_budget_usd_rate (admin; audited).
import { getSettingsAdminApi } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';

export async function PUT(request: Request, { params }: { params: Promise<{ key: string }> }) {
  return getSettingsAdminApi().put(request, await params);
}
