// GET /v1/key — the calling key's limits, today's usage and the wallet balance.
import { getGateway } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getGateway().keyInfo(request);
