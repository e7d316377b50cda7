// GET /health — liveness plus database reachability.
import { getGateway } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = () => getGateway().health();
