import { getDb } from '../db/client';
import type { PayPerRequest } from '../gateway/context';
import type { ApiRequest } from '../http/api-request';
import { json } from '../http/json';
import { isPaymentCredential } from '../http/payment-credential';
import { formatUsd } from '../money';
import { createSessions, type Sessions } from './session/sessions';
import { getX402, type X402 } from './x402';

/**
 * The two ways to pay without an account, behind the one PayPerRequest the gateway consults:
 * an `Authorization: Payment` credential goes to the session; anything else to x402 when it is on.
 * A keyless call with no payment gets one 402 offering both (x402's headers and body, the
 * session's WWW-Authenticate), so either kind of client can pay. Each rail is its own module;
 * this file only chooses between them.
 */
export function combineKeyless(x402: X402 | null, sessions: Sessions | null): PayPerRequest | undefined {
  const x402On = x402 !== null && x402.state.state !== 'disabled';
  const sessionsOn = sessions !== null && sessions.state.state !== 'disabled';
  if (!x402On && !sessionsOn) return undefined;

  return {
    async authorize(input) {
      if (sessionsOn && isPaymentCredential(input.request)) return sessions.authorize(input);
      if (x402On) {
        const outcome = await x402.authorize(input);
        if (!sessionsOn || sessions.state.state !== 'enabled' || outcome.kind !== 'respond' || outcome.response.status !== 402) return outcome;
        return { kind: 'respond', response: await offerSession(outcome.response, sessions, input.request, input.maxCost) };
      }
      if (sessions!.state.state !== 'enabled') {
        return { kind: 'respond', response: json({ error: { message: 'Pay-per-token sessions are misconfigured on this instance; send an API key instead.', type: 'service_unavailable', code: 'sessions_misconfigured', param: null } }, { status: 503 }) };
      }
      const body = {
        requiredCumulative: String(input.maxCost),
        error: {
          message: `This call costs at most ${formatUsd(input.maxCost)}. Send an API key, or pay per token from a payment channel (the Payment challenge in WWW-Authenticate).`,
          type: 'insufficient_credits',
          code: 'payment_required',
          param: null,
        },
      };
      return { kind: 'respond', response: json(body, { status: 402, headers: { 'www-authenticate': sessions!.challenge(input.request), 'access-control-expose-headers': 'WWW-Authenticate, Payment-Receipt' } }) };
    },
    ...(sessionsOn && { credentialOnly: (request: ApiRequest) => sessions.credentialOnly(request) }),
    async reconcile() {
      const credited = x402On && x402.reconcile ? await x402.reconcile() : 0;
      const closed = sessionsOn ? await sessions.sweep() : 0;
      return credited + closed;
    },
  };
}

/** x402's 402 with the session offered beside it: its challenge, and what a new channel must cover. */
async function offerSession(response: Response, sessions: Sessions, request: ApiRequest, maxCost: bigint): Promise<Response> {
  const headers = new Headers(response.headers);
  headers.set('www-authenticate', sessions.challenge(request));
  headers.set('access-control-expose-headers', [headers.get('access-control-expose-headers'), 'WWW-Authenticate'].filter(Boolean).join(', '));
  const body = (await response.json()) as Record<string, unknown>;
  return new Response(JSON.stringify({ ...body, requiredCumulative: String(maxCost) }), { status: 402, headers });
}

const globalForKeyless = globalThis as unknown as { tollgateSessions?: Sessions };

/** The process-wide sessions (on globalThis: Next bundles modules into several chunks). */
export function getSessions(): Sessions {
  globalForKeyless.tollgateSessions ??= createSessions({ db: getDb() });
  return globalForKeyless.tollgateSessions;
}

/** For createGateway: none when neither rail is configured, so a keyless call stays the plain 401 it always was. */
export function getPayPerRequest(): PayPerRequest | undefined {
  return combineKeyless(getX402(), getSessions());
}
