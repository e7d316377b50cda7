// POST /api/waitlist — join the waitlist (email, optional company and use case); a repeat is a friendly duplicate.
import { getWaitlistApi } from '@/lib/server/instance';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getWaitlistApi().join(request);
