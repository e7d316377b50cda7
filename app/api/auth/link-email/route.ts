// POST /api/auth/link-email — mails a link that adds an email address to the signed-in user.
import { getAuthApi } from '@/lib/auth/auth-api';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getAuthApi().requestEmailLink(request);
