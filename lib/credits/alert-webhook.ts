import { createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolveTarget, systemResolver, UnsafeTargetError, type ResolvedAddress, type Resolver } from '../http/public-address';

type Env = Record<string, string | undefined>;

/**
 * Who may receive a webhook. In production only https, and only public addresses unless the
 * operator sets WEBHOOK_ALLOW_PRIVATE=true (a receiver on the operator's own network, or tests).
 * Elsewhere plain http is accepted too, so a local receiver works in development.
 */
export function webhookPolicy(env: Env = process.env) {
  return {
    httpsOnly: env.NODE_ENV === 'production',
    allowPrivate: env.WEBHOOK_ALLOW_PRIVATE?.trim().toLowerCase() === 'true',
  };
}

export const WEBHOOK_TIMEOUT_MS = 5_000;
const MAX_URL_LENGTH = 2_048;

/**
 * The URL's own rules (scheme, no credentials, length), without the network. Returns the
 * problem in words, or null. Used by the form's schema and by the server before resolving.
 */
export function webhookUrlProblem(text: string, env: Env = process.env): string | null {
  if (text.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a full URL such as https://example.com/hooks/tollgate';
  }
  const { httpsOnly } = webhookPolicy(env);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && !httpsOnly)) return httpsOnly ? 'must start with https://' : 'must start with https:// or http://';
  // Credentials in a URL would be stored and shown back; the signature is the authentication.
  if (url.username || url.password) return 'must not contain a user name or password';
  if (!url.hostname) return 'must name a host';
  return null;
}

/**
 * Checks a webhook URL completely: its form, then where its host resolves. Returns the parsed URL
 * and the one address a delivery may connect to; throws UnsafeTargetError with a sentence a user
 * can act on.
 */
export async function checkWebhookUrl({ url, env = process.env, resolver = systemResolver }: { url: string; env?: Env; resolver?: Resolver }): Promise<{ url: URL; target: ResolvedAddress }> {
  const problem = webhookUrlProblem(url, env);
  if (problem) throw new UnsafeTargetError(`The webhook URL ${problem}.`);
  const parsed = new URL(url);
  const target = await resolveTarget({ hostname: parsed.hostname, allowPrivate: webhookPolicy(env).allowPrivate, resolver });
  return { url: parsed, target };
}

/** A new signing secret: `whsec_` + 32 random bytes, base64url. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * The signature header, Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
 * keyed with the whole secret string. The timestamp is signed so that a captured delivery cannot
 * be replayed later; receivers should refuse a `t` more than a few minutes old.
 */
export function signWebhook({ secret, body, timestamp }: { secret: string; body: string; timestamp: number }): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

export type WebhookResult = { delivered: true; status: number } | { delivered: false; status: number | null; error: string };

/**
 * POSTs `body` once. The connection goes to the address checked here, not to a second DNS answer
 * (the `lookup` override), redirects are not followed (node:http never follows them, and a 3xx
 * counts as a failure), and the response body is never read: the socket is closed at the status
 * line, so a receiver cannot make us hold or buffer anything. Never throws.
 */
export async function postWebhook({
  url,
  body,
  secret,
  eventId,
  env = process.env,
  resolver = systemResolver,
  timeoutMs = WEBHOOK_TIMEOUT_MS,
  now = () => Date.now(),
}: {
  url: string;
  body: string;
  secret: string;
  eventId: string;
  env?: Env;
  resolver?: Resolver;
  timeoutMs?: number;
  now?: () => number;
}): Promise<WebhookResult> {
  let checked: { url: URL; target: ResolvedAddress };
  try {
    checked = await checkWebhookUrl({ url, env, resolver });
  } catch (error) {
    if (error instanceof UnsafeTargetError) return { delivered: false, status: null, error: error.message };
    throw error;
  }
  const { url: target, target: address } = checked;
  const pinned: LookupFunction = (_hostname, options, callback) => {
    // Node asks for every address when it races IPv4 and IPv6 (autoSelectFamily): give the one checked.
    if (options.all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: address.address, family: address.family }]);
    else callback(null, address.address, address.family);
  };
  const timestamp = Math.floor(now() / 1000);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookResult>((resolve) => {
    let settled = false;
    const finish = (result: WebhookResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = send(
      {
        protocol: target.protocol,
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port || undefined,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        lookup: pinned,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Tollgate-Webhooks/1',
          'tollgate-event': 'balance.low',
          'tollgate-delivery': eventId,
          'tollgate-signature': signWebhook({ secret, body, timestamp }),
        },
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        response.destroy();
        request.destroy();
        if (status >= 200 && status < 300) finish({ delivered: true, status });
        else if (status >= 300 && status < 400) finish({ delivered: false, status, error: `The receiver answered ${status} (a redirect); webhooks do not follow redirects.` });
        else finish({ delivered: false, status, error: `The receiver answered HTTP ${status}.` });
      },
    );
    const timer = setTimeout(() => {
      finish({ delivered: false, status: null, error: `The receiver did not answer within ${Math.round(timeoutMs / 1000)} s.` });
      request.destroy();
    }, timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => finish({ delivered: false, status: null, error: `Could not reach the receiver (${error.code ?? error.message}).` }));
    request.end(body);
  });
}
