/**
 * Errors on /v1 use OpenAI's shape, `{ error: { message, type, code, param } }`, so that every
 * OpenAI SDK maps them onto its own error classes by status code.
 */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'insufficient_credits'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'service_unavailable'
  | 'api_error';

export class GatewayError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(init: { status: number; type: OpenAIErrorType; code: string; message: string; param?: string | null; headers?: Record<string, string> }) {
    super(init.message);
    this.name = 'GatewayError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param ?? null;
    this.headers = init.headers ?? {};
  }

  toJSON() {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code = 'invalid_request') =>
  new GatewayError({ status: 400, type: 'invalid_request_error', code, message, param });

export const unauthorized = (code: string, message: string) => new GatewayError({ status: 401, type: 'authentication_error', code, message });

export const forbidden = (code: string, message: string) => new GatewayError({ status: 403, type: 'permission_error', code, message });

export const notFound = (code: string, message: string, param: string | null = null) =>
  new GatewayError({ status: 404, type: 'invalid_request_error', code, message, param });

export const paymentRequired = (code: string, message: string, headers?: Record<string, string>) =>
  new GatewayError({ status: 402, type: 'insufficient_credits', code, message, headers });

export const conflict = (code: string, message: string) => new GatewayError({ status: 409, type: 'invalid_request_error', code, message });

export const tooLarge = (message: string) => new GatewayError({ status: 413, type: 'invalid_request_error', code: 'request_too_large', message });

export const tooManyRequests = (code: string, message: string, retryAfterSeconds: number, headers: Record<string, string> = {}) =>
  new GatewayError({ status: 429, type: 'rate_limit_error', code, message, headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))), ...headers } });

export const upstreamFailed = (message: string) => new GatewayError({ status: 502, type: 'upstream_error', code: 'upstream_error', message });

export const unavailable = (code: string, message: string) => new GatewayError({ status: 503, type: 'service_unavailable', code, message });

export const internalError = () =>
  new GatewayError({ status: 500, type: 'api_error', code: 'internal_error', message: 'Something went wrong on our side. The request was not charged.' });
