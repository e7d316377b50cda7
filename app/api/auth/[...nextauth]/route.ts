// GET|POST /api/auth/* — next-auth: email magic link, wallet (SIWE), GitHub/Google when configured; JWT sessions.
import { handleAuthRoute } from '@/lib/auth/handler';
import { sameOriginWrites } from '@/lib/http/guards';

export const dynamic = 'force-dynamic';

export const GET = handleAuthRoute;
export const POST = sameOriginWrites(handleAuthRoute);
