// GET /api/x402/probe — a sample x402 challenge and the settlement state; with a payment header, what verification says of it (never settled).
import { getX402 } from '@/lib/payments/x402';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getX402().probe(request);
