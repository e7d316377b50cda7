import { createLocalProvider } from './local';
import { configurationProblem, providerConnection } from './registry';
import type { ProviderId } from './types';

/**
 * A cheap, free health probe per provider, for /status:
 * - the built-in model is asked for one token in-process (it costs nothing and always answers
 *   unless it is broken);
 * - a remote provider's configured base URL gets one GET without credentials: any HTTP answer
 *   below 500 (a 404 or 401 included) proves the host is reachable, and nothing is billed
 *   because no model is called and no key is sent. Reachable is all it proves: not that the
 *   key is valid or that a model answers.
 * Results are cached per provider for a short time, so a busy /status costs one probe a minute.
 */
export type ProbeOutcome = 'up' | 'error' | 'down' | 'not_configured' | 'misconfigured';

/**
 * `reason` is for the operator only (admins see it on /status): the HTTP status of a 5xx, the
 * error code of a failed connection, or why the base URL is unusable; null when there is nothing to add.
 */
export type ProviderProbe = { provider: ProviderId; outcome: ProbeOutcome; checkedAt: Date; latencyMs: number | null; reason: string | null };

export type ProbeOptions = { env: Record<string, string | undefined>; timeoutMs: number; fetchImpl?: typeof fetch; now?: () => Date };

/**
 * A base URL as the probe uses it: it must be an absolute http(s) URL (a missing scheme, as in
 * `api.example.com/v1`, is the usual slip), and any user:password in it is dropped, so the probe
 * never sends credentials and `fetch` (which refuses URLs with credentials) can make the request.
 */
export function probeUrl(baseURL: string): { ok: true; url: URL } | { ok: false; problem: string } {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return { ok: false, problem: 'not an absolute URL (it must start with https:// or http://)' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, problem: 'not an http(s) URL (it must start with https:// or http://)' };
  url.username = '';
  url.password = '';
  return { ok: true, url };
}

/** What went wrong in a failed fetch, briefly: a timeout, the system error code (ECONNREFUSED, ENOTFOUND…) or fetch's own word. */
function failureReason(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return error.name;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  // undici refuses some URLs itself ("bad port") with a cause that has a message but no code.
  return typeof cause?.message === 'string' && cause.message ? cause.message.slice(0, 80) : error.name;
}

async function probeLocal(timeoutMs: number): Promise<{ outcome: ProbeOutcome; reason: string | null }> {
  const local = createLocalProvider({ tokenDelayMs: 0 });
  const { completion } = await local.complete({ model: 'tollgate-local', max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }, { signal: AbortSignal.timeout(timeoutMs) });
  return completion.choices.length > 0 ? { outcome: 'up', reason: null } : { outcome: 'error', reason: 'no choices in the reply' };
}

async function probeRemote(url: URL, timeoutMs: number, fetchImpl: typeof fetch): Promise<{ outcome: ProbeOutcome; reason: string | null }> {
  try {
    // No Authorization header on purpose: reachability only, never a billable or key-revealing call.
    const response = await fetchImpl(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    await response.body?.cancel();
    return response.status >= 500 ? { outcome: 'error', reason: `HTTP ${response.status}` } : { outcome: 'up', reason: null };
  } catch (error) {
    return { outcome: 'down', reason: failureReason(error) };
  }
}

export async function probeProvider(provider: ProviderId, { env, timeoutMs, fetchImpl = fetch, now = () => new Date() }: ProbeOptions): Promise<ProviderProbe> {
  const started = performance.now();
  const finish = ({ outcome, reason }: { outcome: ProbeOutcome; reason: string | null }, timed = true): ProviderProbe => ({
    provider,
    outcome,
    reason,
    checkedAt: now(),
    latencyMs: timed ? Math.round(performance.now() - started) : null,
  });
  if (configurationProblem(provider, env as NodeJS.ProcessEnv)) return finish({ outcome: 'not_configured', reason: null }, false);
  if (provider === 'local') {
    try {
      return finish(await probeLocal(timeoutMs));
    } catch (error) {
      return finish({ outcome: 'error', reason: error instanceof Error ? error.name : 'unknown error' });
    }
  }
  const target = probeUrl(providerConnection(provider, env as NodeJS.ProcessEnv).baseURL);
  if (!target.ok) return finish({ outcome: 'misconfigured', reason: target.problem }, false);
  const result = await probeRemote(target.url, timeoutMs, fetchImpl);
  return finish(result, result.outcome !== 'down');
}

/**
 * Remembers each provider's last probe for `ttlMs`, keyed by the base URL too so a changed
 * configuration is probed afresh; concurrent requests for the same provider share one probe.
 * Every lookup drops the expired entries, so probes of base URLs no longer configured do not pile up.
 */
export function createProbeCache({ ttlMs, clock = () => Date.now() }: { ttlMs: number; clock?: () => number }) {
  const entries = new Map<string, { expires: number; probe: Promise<ProviderProbe> }>();
  return {
    get(provider: ProviderId, options: ProbeOptions): Promise<ProviderProbe> {
      const now = clock();
      for (const [key, entry] of entries) if (entry.expires <= now) entries.delete(key);
      const target = provider === 'local' ? 'local' : providerConnection(provider, options.env as NodeJS.ProcessEnv).baseURL;
      const key = `${provider} ${target} ${configurationProblem(provider, options.env as NodeJS.ProcessEnv) ?? ''}`;
      const hit = entries.get(key);
      if (hit) return hit.probe;
      const probe = probeProvider(provider, options);
      entries.set(key, { expires: now + ttlMs, probe });
      return probe;
    },
    /** How many probes are remembered (for tests). */
    get size(): number {
      return entries.size;
    },
  };
}

/** The process's cache for /status: one probe per provider per minute at most. */
export const providerProbes = createProbeCache({ ttlMs: 60_000 });
