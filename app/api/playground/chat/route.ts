// POST /api/playground/chat — the signed-in user's playground chat, streamed through the gateway with their Playground key.
import { getPlaygroundApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getPlaygroundApi().chat(request);
