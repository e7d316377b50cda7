import NextAuth from 'next-auth';
import { getAuthOptions } from './options';

type RouteContext = { params: Promise<{ nextauth: string[] }> };

const globalForHandler = globalThis as unknown as { tollgateAuthHandler?: (request: Request, context: RouteContext) => Promise<Response> };

/** next-auth's own routes (/api/auth/signin, callback, session, csrf, signout…) over our options. */
export function handleAuthRoute(request: Request, context: RouteContext): Promise<Response> {
  globalForHandler.tollgateAuthHandler ??= NextAuth(getAuthOptions()) as unknown as (request: Request, context: RouteContext) => Promise<Response>;
  return globalForHandler.tollgateAuthHandler(request, context);
}
