// POST /api/waitlist — join the waitlist (email, optional company and use case); a repeat is a friendly duplicate.
import { getDb } from '@/lib/db/client';
import { createWaitlistApi } from '@/lib/waitlist';

export const dynamic = 'force-dynamic';

const globalForWaitlist = globalThis as unknown as { tollgateWaitlist?: ReturnType<typeof createWaitlistApi> };

export function POST(request: Request) {
  // One API (and so one per-IP limiter) per process: Next may load this module in several chunks.
  globalForWaitlist.tollgateWaitlist ??= createWaitlistApi({ db: getDb() });
  return globalForWaitlist.tollgateWaitlist.join(request);
}
