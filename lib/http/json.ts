import type { ApiRequest } from './api-request';
import { HttpError, invalidRequest, tooLarge } from './errors';

export const MAX_BODY_BYTES = 1_048_576;

/**
 * Deepest nesting of arrays and objects a body may have. Real requests stay under ~20 (a JSON
 * schema in response_format or tools is the deepest part); 10,000 levels would parse, then
 * overflow the stack of whatever walks the value next (validation, serialization, an upstream).
 */
export const MAX_JSON_DEPTH = 64;

export function json(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'content-type': 'application/json', ...init.headers },
  });
}

/**
 * Reads a JSON body of at most `limit` bytes. Counts while streaming, so a lying or missing
 * Content-Length cannot make the server buffer more than the limit.
 */
export async function readJsonBody(request: ApiRequest, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > limit) throw tooLarge(`Request body is ${declared} bytes; the limit is ${limit} bytes (1 MB).`);
  if (request.bufferedBody) {
    if (request.bufferedBody.byteLength > limit) throw tooLarge(`Request body exceeds the limit of ${limit} bytes (1 MB).`);
    return parseJsonText(Buffer.from(request.bufferedBody.buffer, request.bufferedBody.byteOffset, request.bufferedBody.byteLength).toString('utf8'));
  }
  if (!request.body) throw invalidRequest('Request body is empty; send a JSON object.', null, 'invalid_json');
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch((error: unknown) => {
      // The client hung up while sending: nothing to answer, nothing to log as ours.
      if (request.signal.aborted) throw new HttpError({ status: 499, type: 'api_error', code: 'client_closed_request', message: 'The client closed the request.' });
      throw error;
    });
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(`Request body exceeds the limit of ${limit} bytes (1 MB).`);
    }
    chunks.push(value);
  }
  return parseJsonText(Buffer.concat(chunks).toString('utf8'));
}

function parseJsonText(text: string): unknown {
  if (!text.trim()) throw invalidRequest('Request body is empty; send a JSON object.', null, 'invalid_json');
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw invalidRequest(`Request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`, null, 'json_too_deep');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidRequest('Request body is not valid JSON.', null, 'invalid_json');
  }
}

/**
 * Whether JSON text nests deeper than `max`, in one linear pass before parsing: brackets inside
 * strings do not count (escapes are skipped), and malformed text is left for JSON.parse to refuse.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \\ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}
