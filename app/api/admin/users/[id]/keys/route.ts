// POST /api/admin/users/:id/keys — create an API key for a user; the secret is in this response only.
import { getAdminApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }) {
  return getAdminApi().createKey(request, await params);
}
