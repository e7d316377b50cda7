import { createKeyedProvider } from '../providers/registry';
import { UpstreamError } from '../providers/types';

/** The providers a seller can list credit of: every remote upstream (the built-in local model is ours). */
export const SELLER_PROVIDERS = ['anthropic', 'openai', 'google', 'deepseek'] as const;
export type SellerProviderId = (typeof SELLER_PROVIDERS)[number];

export type KeyVerification =
  | { ok: true }
  | { ok: false; reason: 'invalid_key' | 'no_quota' | 'rejected' | 'unreachable'; status: number | null; message: string };

/**
 * The cheapest call that proves a key can spend: Anthropic's token count (free, and it checks the
 * key like a completion does); elsewhere a one-token completion of the provider's cheapest chat
 * model, a few millionths of a dollar on the seller's account.
 */
const PROBE_MODEL: Record<SellerProviderId, string> = {
  anthropic: 'claude-haiku-4-5',
  openai: 'gpt-4o-mini',
  google: 'gemini-2.5-flash',
  deepseek: 'deepseek-chat',
};

export const VERIFY_TIMEOUT_MS = 10_000;

/**
 * One live call with the seller's key through the same adapter the gateway uses, against the
 * provider's base URL from the environment (the fake upstream in tests). Never throws for what the
 * provider answered; the message is the adapter's, which never contains the key or upstream text
 * that could echo it.
 */
export async function verifySellerKey({
  provider,
  apiKey,
  env = process.env,
  timeoutMs = VERIFY_TIMEOUT_MS,
}: {
  provider: SellerProviderId;
  apiKey: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<KeyVerification> {
  const upstream = createKeyedProvider(provider, apiKey, env, timeoutMs);
  // The adapters bound connect and headers by timeoutMs; this bounds the whole call.
  const signal = AbortSignal.timeout(timeoutMs);
  const messages = [{ role: 'user' as const, content: 'ping' }];
  try {
    if (upstream.messages) await upstream.messages.countTokens({ model: PROBE_MODEL[provider], messages }, { signal, headers: {} });
    else await upstream.complete({ model: PROBE_MODEL[provider], messages, max_tokens: 1 }, { signal });
    return { ok: true };
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return classify(error, signal.aborted, timeoutMs);
  }
}

function classify(error: UpstreamError, timedOut: boolean, timeoutMs: number): KeyVerification {
  const status = error.status ?? null;
  if (error.kind === 'auth' && (status === 401 || status === 403)) {
    return { ok: false, reason: 'invalid_key', status, message: `The provider refused this key (${status}): check that it is correct, active and allowed to call the API.` };
  }
  // 402, a billing 400 (Anthropic) or 429 (OpenAI's insufficient_quota): the key is real, its account cannot spend now.
  if (error.kind === 'auth' || error.kind === 'rate_limited') {
    return { ok: false, reason: 'no_quota', status, message: `The provider accepted the key but refused to spend with it (${status ?? 'quota'}): the account is out of credit, over its quota or rate limited.` };
  }
  if (error.kind === 'bad_request') {
    return { ok: false, reason: 'rejected', status, message: `The provider refused the verification call with ${status ?? 'an error'}: the key may lack access to ${error.providerId}'s models.` };
  }
  const why = timedOut || error.kind === 'timeout' || error.kind === 'aborted' ? `did not answer within ${timeoutMs} ms` : error.kind === 'server_error' ? `answered ${status ?? 'a server error'}` : 'could not be reached';
  return { ok: false, reason: 'unreachable', status, message: `${error.providerId} ${why}; the key could not be verified, try again later.` };
}
