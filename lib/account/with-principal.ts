import type { Db } from '../db/client';
import { authenticateAccountRequest, type Principal } from './principal';
import { errorResponse } from '../http/errors';

export type PrincipalHandler = (args: { request: Request; principal: Principal; params: Record<string, string> }) => Promise<Response>;

/**
 * The account surface's one wrapper: authenticate (session or management key), run the handler,
 * and turn whatever it throws into the JSON error shape.
 */
export function withPrincipal(db: Db, handler: PrincipalHandler) {
  return async (request: Request, params: Record<string, string> = {}): Promise<Response> => {
    try {
      const principal = await authenticateAccountRequest(db, request);
      return await handler({ request, principal, params });
    } catch (error) {
      return errorResponse(error);
    }
  };
}
