// POST /v1/chat/completions — OpenAI-compatible chat, streaming or not, billed through the ledger.
import { getGateway } from '@/lib/server/instance';
import { onlyMethods } from '@/lib/http/unrouted';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getGateway().chatCompletions(request);

// HEAD: a payment session's credential sent alone (a voucher, a top-up, a close).
export const HEAD = (request: Request) => getGateway().handle(request);

// Every other method: a JSON 405 naming the allowed ones (Next's own is an empty body).
const other = onlyMethods('POST');
export const GET = other;
export const PUT = other;
export const PATCH = other;
export const DELETE = other;
