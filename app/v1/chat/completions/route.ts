// POST /v1/chat/completions — OpenAI-compatible chat, streaming or not, billed through the ledger.
import { getGateway } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getGateway().chatCompletions(request);
