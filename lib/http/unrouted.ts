import type { ApiRequest } from './api-request';
import { anthropicErrorResponse, errorResponse, HttpError, methodNotAllowed } from './errors';

/**
 * What Next answers on its own for an API path it has no handler for is an HTML 404 or an empty
 * 405; API clients parse neither. These give every such answer the JSON error shape.
 */
export function unknownUrl(request: ApiRequest): Promise<Response> {
  const { pathname } = new URL(request.url);
  return Promise.resolve(
    errorShapeFor(pathname)(new HttpError({ status: 404, type: 'invalid_request_error', code: 'unknown_url', message: `Unknown request URL: ${request.method} ${pathname}.` })),
  );
}

/** Anthropic's SDKs read only Anthropic's error shape: everything under /v1/messages answers in it. */
function errorShapeFor(pathname: string): (error: unknown) => Response {
  return pathname === '/v1/messages' || pathname.startsWith('/v1/messages/') ? anthropicErrorResponse : errorResponse;
}

/** The handler for every method a route does not serve: a 405 naming the ones it does, with Allow. */
export function onlyMethods(...allowed: string[]) {
  return (request: ApiRequest): Promise<Response> => {
    const { pathname } = new URL(request.url);
    return Promise.resolve(errorShapeFor(pathname)(methodNotAllowed(request.method, pathname, allowed)));
  };
}
