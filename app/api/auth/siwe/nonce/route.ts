// GET /api/auth/siwe/nonce — a single-use nonce for a Sign-In with Ethereum message (5 minutes).
import { getAuthApi } from '@/lib/auth/auth-api';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => getAuthApi().nonce(request);
