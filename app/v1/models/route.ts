// GET /v1/models — the catalog in OpenAI's list shape, with status and prices.
import { getGateway } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getGateway().listModels(request);
