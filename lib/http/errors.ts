import type { z } from 'zod';
import { logger } from '../logger';

/**
 * The one HTTP error type. Every route answers its errors in OpenAI's shape, `{ error: { message, type, code, param } }`, so that every
 * OpenAI SDK maps them onto its own error classes by status code; the Anthropic surface in Anthropic's (toAnthropicJSON).
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

export class HttpError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(init: { status: number; type: OpenAIErrorType; code: string; message: string; param?: string | null; headers?: Record<string, string> }) {
    super(init.message);
    this.name = 'HttpError';
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
  new HttpError({ status: 400, type: 'invalid_request_error', code, message, param });

export const unauthorized = (code: string, message: string) => new HttpError({ status: 401, type: 'authentication_error', code, message });

export const forbidden = (code: string, message: string) => new HttpError({ status: 403, type: 'permission_error', code, message });

export const notFound = (code: string, message: string, param: string | null = null) =>
  new HttpError({ status: 404, type: 'invalid_request_error', code, message, param });

export const paymentRequired = (code: string, message: string, headers?: Record<string, string>) =>
  new HttpError({ status: 402, type: 'insufficient_credits', code, message, headers });

export const conflict = (code: string, message: string) => new HttpError({ status: 409, type: 'invalid_request_error', code, message });

export const tooLarge = (message: string) => new HttpError({ status: 413, type: 'invalid_request_error', code: 'request_too_large', message });

export const tooManyRequests = (code: string, message: string, retryAfterSeconds: number, headers: Record<string, string> = {}) =>
  new HttpError({ status: 429, type: 'rate_limit_error', code, message, headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))), ...headers } });

export const upstreamFailed = (message: string) => new HttpError({ status: 502, type: 'upstream_error', code: 'upstream_error', message });

export const unavailable = (code: string, message: string) => new HttpError({ status: 503, type: 'service_unavailable', code, message });

export const internalError = () =>
  new HttpError({ status: 500, type: 'api_error', code: 'internal_error', message: 'Something went wrong on our side. The request was not charged.' });

export const methodNotAllowed = (method: string, path: string, allowed: string[]) =>
  new HttpError({
    status: 405,
    type: 'invalid_request_error',
    code: 'method_not_allowed',
    message: `${method} is not allowed on ${path}; use ${allowed.join(' or ')}.`,
    headers: { allow: allowed.join(', ') },
  });

/** Parses with zod and turns the first issue into a 400 naming the field, e.g. `messages[0].role`. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = narrowUnion(result.error.issues[0]!);
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const param = formatPath(keys.length === 1 ? [...issue.path, keys[0]!] : issue.path);
  if (keys.length) {
    const where = formatPath(issue.path);
    const list = keys.map((k) => `'${k}'`).join(', ');
    throw invalidRequest(`Unrecognized ${keys.length === 1 ? 'field' : 'fields'} ${list}${where ? ` in '${where}'` : ''}: not a parameter of this endpoint.`, param || null, 'unknown_parameter');
  }
  const message = param ? `Invalid '${param}': ${issue.message}.` : `Invalid request: ${issue.message}.`;
  throw invalidRequest(message, param || null);
}

/**
 * A value that fits no option of a union (`string | blocks[]`) is reported by zod at the union,
 * as "Invalid input". When only one option got past the value's type, its own first issue is the
 * one to name (`system[0].cache_control.ttl`, not `system`).
 */
function narrowUnion(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  const matched = issue.errors.filter((branch) => branch[0] && !(branch[0].code === 'invalid_type' && branch[0].path.length === 0));
  if (matched.length !== 1) return issue;
  const inner = matched[0]![0]!;
  return narrowUnion({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue);
}

export function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
}

/** Prisma's known-request error code (P2002, P2025, …), read by shape: each generated client has its own class. */
export function prismaErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && /^P\d{4}$/.test(error.code)) {
    return error.code;
  }
  return undefined;
}

/**
 * The one place any error becomes a response. Unknown errors are logged (with their stack, on the
 * server) and answered as a generic 500; nothing from them reaches the client.
 */
export function errorResponse(error: unknown, headers: Record<string, string> = {}, format: (error: HttpError) => unknown = (e) => e.toJSON()): Response {
  const known = error instanceof HttpError ? error : null;
  if (!known) logger.error('unhandled error', { error });
  const httpError = known ?? internalError();
  return new Response(JSON.stringify(format(httpError)), {
    status: httpError.status,
    headers: { 'content-type': 'application/json', ...headers, ...httpError.headers },
  });
}

/**
 * Anthropic's error types by status, so that the Anthropic SDKs raise their own classes
 * (AuthenticationError, BadRequestError, ...). Out of credit (402) is Anthropic's own
 * `billing_error`, which its SDKs raise as a plain APIError with status 402.
 */
const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

/** The same error in Anthropic's shape: `{ type: 'error', error: { type, message } }`. */
export function toAnthropicJSON(error: HttpError) {
  const type = ANTHROPIC_ERROR_TYPES[error.status] ?? (error.status >= 500 ? 'api_error' : 'invalid_request_error');
  return { type: 'error' as const, error: { type, message: error.message } };
}

/** errorResponse for the Anthropic surface (/v1/messages): its body shape, and the request id under Anthropic's header name too. */
export function anthropicErrorResponse(error: unknown, headers: Record<string, string> = {}): Response {
  const requestId = headers['x-request-id'];
  return errorResponse(error, requestId ? { ...headers, 'request-id': requestId } : headers, toAnthropicJSON);
}
