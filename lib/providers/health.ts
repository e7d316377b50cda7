import { createLocalProvider } from './local';
import { configurationProblem, providerConnection } from './registry';
import type { ProviderId } from './types';

/**
 * A cheap, free health probe per provider, for /status:
 * - the built-in model is asked for one token in-process (it costs nothing and always answers
 *   unless it is broken);
 * - a remote provider's configured base URL gets one GET without credentials: any HTTP answer
 *   below 500 (a 404 or 401 included) proves the host is reachable, and nothing is billed
 *   because no model is called and no key is sent.
 * Results are cached per provider for a short time, so a busy /status costs one probe a minute.
 */
export type ProbeOutcome = 'up' | 'error' | 'down' | 'not_configured';

export type ProviderProbe = { provider: ProviderId; outcome: ProbeOutcome; checkedAt: Date; latencyMs: number | null };

export type ProbeOptions = { env: Record<string, string | undefined>; timeoutMs: number; fetchImpl?: typeof fetch; now?: () => Date };

async function probeLocal(): Promise<ProbeOutcome> {
  const local = createLocalProvider({ tokenDelayMs: 0 });
  const { completion } = await local.complete({ model: 'tollgate-local', max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }, { signal: AbortSignal.timeout(2_000) });
  return completion.choices.length > 0 ? 'up' : 'error';
}

async function probeRemote(baseURL: string, timeoutMs: number, fetchImpl: typeof fetch): Promise<ProbeOutcome> {
  try {
    // No Authorization header on purpose: reachability only, never a billable or key-revealing call.
    const response = await fetchImpl(baseURL, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    await response.body?.cancel();
    return response.status >= 500 ? 'error' : 'up';
  } catch {
    return 'down';
  }
}

export async function probeProvider(provider: ProviderId, { env, timeoutMs, fetchImpl = fetch, now = () => new Date() }: ProbeOptions): Promise<ProviderProbe> {
  const started = performance.now();
  const finish = (outcome: ProbeOutcome, timed = true): ProviderProbe => ({ provider, outcome, checkedAt: now(), latencyMs: timed ? Math.round(performance.now() - started) : null });
  if (configurationProblem(provider, env as NodeJS.ProcessEnv)) return finish('not_configured', false);
  if (provider === 'local') {
    try {
      return finish(await probeLocal());
    } catch {
      return finish('error');
    }
  }
  const outcome = await probeRemote(providerConnection(provider, env as NodeJS.ProcessEnv).baseURL, timeoutMs, fetchImpl);
  return finish(outcome, outcome !== 'down');
}

/**
 * Remembers each provider's last probe for `ttlMs`, keyed by the base URL too so a changed
 * configuration is probed afresh; concurrent requests for the same provider share one probe.
 */
export function createProbeCache({ ttlMs, clock = () => Date.now() }: { ttlMs: number; clock?: () => number }) {
  const entries = new Map<string, { expires: number; probe: Promise<ProviderProbe> }>();
  return {
    get(provider: ProviderId, options: ProbeOptions): Promise<ProviderProbe> {
      const target = provider === 'local' ? 'local' : providerConnection(provider, options.env as NodeJS.ProcessEnv).baseURL;
      const key = `${provider} ${target} ${configurationProblem(provider, options.env as NodeJS.ProcessEnv) ?? ''}`;
      const hit = entries.get(key);
      if (hit && hit.expires > clock()) return hit.probe;
      const probe = probeProvider(provider, options);
      entries.set(key, { expires: clock() + ttlMs, probe });
      return probe;
    },
  };
}

/** The process's cache for /status: one probe per provider per minute at most. */
export const providerProbes = createProbeCache({ ttlMs: 60_000 });
