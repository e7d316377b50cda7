import NextAuth from 'next-auth';
import { withRequestContext } from '../http/request-context';
import { getAuthOptions } from './options';

type RouteContext = { params: Promise<{ nextauth: string[] }> };
type RouteHandler = (request: Request, context: RouteContext) => Promise<Response>;

const globalForHandler = globalThis as unknown as { tollgateAuthHandler?: RouteHandler };

/**
 * next-auth's own routes (/api/auth/signin, callback, session, csrf, signout…) over our options.
 * next-auth creates users (the email link's createUser, the wallet's authorize) without handing
 * us the request, so the request context carries the client's address to them: the welcome
 * credit's per-address cap reads it there.
 */
export const handleAuthRoute: RouteHandler = withRequestContext((request: Request, context: RouteContext) => {
  globalForHandler.tollgateAuthHandler ??= NextAuth(getAuthOptions()) as unknown as RouteHandler;
  return globalForHandler.tollgateAuthHandler(request, context);
});
