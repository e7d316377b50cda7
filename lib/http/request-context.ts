import { AsyncLocalStorage } from 'node:async_hooks';
import { clientAddress, trustedProxies, type TrustedProxies } from './client-address';

/**
 * Facts about the HTTP request being served, for code that runs deep inside a library's flow
 * and is never handed the Request: next-auth calls our adapter's createUser and the SIWE
 * authorize without it, and the welcome credit's per-address cap needs the client's address.
 * The route wrapper (lib/auth/handler.ts) opens the context; everything it awaits sees it.
 * Read it only inside requests served by Next: on Node 20 and 22 the server disables every store
 * once no such request has been in flight for a while (lib/server/idle-context-tracking.ts).
 */
export type RequestContext = {
  /** From the socket (and TRUSTED_PROXIES), never from a header the client wrote; null when unknown. */
  clientAddress: string | null;
};

// One store per process, even if the bundler gives this module more than one instance.
const globalForContext = globalThis as unknown as { tollgateRequestContext?: AsyncLocalStorage<RequestContext> };
const storage = (globalForContext.tollgateRequestContext ??= new AsyncLocalStorage<RequestContext>());

/** The context of `request`: who is calling, as lib/http/client-address.ts tells it. */
export function requestContextOf(request: Request, proxies: TrustedProxies = trustedProxies()): RequestContext {
  return { clientAddress: clientAddress(request, proxies) };
}

/** Runs `work` (and everything it awaits) inside `context`. */
export function runWithRequestContext<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

/** The context of the request being served, or undefined outside one (a script, a test, the sweeper). */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/**
 * Wraps a route handler so that everything it runs sees the request's context. The next-auth
 * route (lib/auth/handler.ts) is wrapped this way: users are created deep inside next-auth.
 */
export function withRequestContext<Rest extends unknown[]>(handler: (request: Request, ...rest: Rest) => Promise<Response>, proxies?: () => TrustedProxies) {
  return (request: Request, ...rest: Rest): Promise<Response> => runWithRequestContext(requestContextOf(request, proxies?.()), () => handler(request, ...rest));
}
