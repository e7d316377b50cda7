// POST /api/playground/chat — the signed-in user's playground chat, streamed through the gateway with their Playground key.
import { getSessionUser } from '@/lib/auth/session';
import { getDb } from '@/lib/db/client';
import { createPlaygroundApi } from '@/lib/playground';
import { getGateway } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => createPlaygroundApi({ db: getDb(), gateway: getGateway, authenticate: (r) => getSessionUser(r) }).chat(request);
