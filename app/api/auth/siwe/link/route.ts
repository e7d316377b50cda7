// POST /api/auth/siwe/link — links the wallet that signed a SIWE message to the signed-in user.
import { getAuthApi } from '@/lib/auth/auth-api';

export const dynamic = 'force-dynamic';

export const POST = (request: Request) => getAuthApi().linkWallet(request);
