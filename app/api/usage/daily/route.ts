// GET /api/usage/daily — requests, tokens and cost per day and model, for charts.
import { getAccountApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAccountApi().dailyUsage(request);
