// Any other /api URL — a 404 in the OpenAI error shape, for every method (Next's own is an HTML page).
import { unknownUrl } from '@/lib/http/unrouted';

export const dynamic = 'force-dynamic';

export const GET = unknownUrl;
export const POST = unknownUrl;
export const PUT = unknownUrl;
export const PATCH = unknownUrl;
export const DELETE = unknownUrl;
