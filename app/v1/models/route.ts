// GET /v1/models — the catalog in OpenAI's list shape, with status and prices.
import { getGateway } from '@/lib/server/instance';
import { onlyMethods } from '@/lib/http/unrouted';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getGateway().listModels(request);

// Every other method: a JSON 405 naming the allowed ones (Next's own is an empty body).
const other = onlyMethods('GET');
export const POST = other;
export const PUT = other;
export const PATCH = other;
export const DELETE = other;
