// POST /v1/messages — Anthropic's Messages API, streaming or not, billed through the ledger.
import { getGateway } from '@/lib/server/instance';
import { onlyMethods } from '@/lib/http/unrouted';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getGateway().messages(request);

// Every other method: a JSON 405 naming the allowed ones (Next's own is an empty body).
const other = onlyMethods('POST');
export const GET = other;
export const PUT = other;
export const PATCH = other;
export const DELETE = other;
