import { BaseError, HttpRequestError } from 'viem';

/**
 * RPC failures as a short line safe to store and log. viem's messages quote the request URL
 * ("URL: https://eth-mainnet.example/v2/<api key>"); it strips only user:password, and providers
 * put the key in the path or the query. So the line is built from the error's parts (viem's short
 * message, the HTTP status, the details, the network error code), never its full message, and
 * anything that still looks like a URL or a piece of the configured one is cut out.
 */

/** An error from the RPC (viem's own): unreachable, timed out, refused, answered an error or nonsense. */
export const isRpcError = (error: unknown): error is BaseError => error instanceof BaseError;

const URL_PATTERN = /\b(?:https?|wss?):\/\/[^\s"'<>]+/gi;

/** The parts of an RPC URL that may be secret: the whole of it, its path and segments, query values, credentials. */
function secretParts(rpcUrl: string | null | undefined): string[] {
  if (!rpcUrl) return [];
  const parts = [rpcUrl];
  try {
    const url = new URL(rpcUrl);
    parts.push(url.href, url.pathname.slice(1), url.search.slice(1), url.username, url.password, ...url.pathname.split('/'), ...url.searchParams.values());
  } catch {
    // not a URL: only the literal text is removed
  }
  // Short pieces ("v2", "rpc") are no secret, and cutting them would garble the message.
  return [...new Set(parts.filter((part) => part.length >= 6))].sort((a, b) => b.length - a.length);
}

export function redactRpcUrl(text: string, rpcUrl: string | null | undefined): string {
  let out = text;
  for (const part of secretParts(rpcUrl)) out = out.split(part).join('[redacted]');
  return out.replace(URL_PATTERN, '[url]');
}

/** The first error code down the cause chain (ECONNREFUSED, ETIMEDOUT, UND_ERR_CONNECT_TIMEOUT, …). */
function networkCode(error: unknown): string | null {
  let current: unknown = error;
  for (let depth = 0; current && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

/** "HTTP request failed. — fetch failed — ECONNREFUSED": what went wrong, without the URL. */
export function describeRpcError(error: unknown, rpcUrl: string | null | undefined): string {
  const parts: string[] = [];
  if (error instanceof BaseError) {
    parts.push(error.shortMessage);
    if (error instanceof HttpRequestError && error.status) parts.push(`HTTP ${error.status}`);
    if (error.details && error.details !== error.shortMessage) parts.push(error.details);
  } else if (error instanceof Error) {
    parts.push(`${error.name}: ${error.message.split('\n')[0]}`);
  } else {
    parts.push(String(error));
  }
  const code = networkCode(error);
  if (code && !parts.some((part) => part.includes(code))) parts.push(code);
  return redactRpcUrl(parts.join(' — '), rpcUrl).slice(0, 300);
}
