import { createAnthropicProvider } from './anthropic';
import { createDeepSeekProvider } from './deepseek';
import { createGoogleProvider } from './google';
import { createLocalProvider } from './local';
import { createOpenAIProvider } from './openai';
import type { ChatProvider, ProviderConnection, ProviderId } from './types';

export type RemoteProviderId = Exclude<ProviderId, 'local'>;

/** Environment variables per upstream. Keys stay on the server: nothing here is ever serialized out. */
const REMOTE: Record<RemoteProviderId, { keyVar: string; urlVar: string; defaultUrl: string }> = {
  openai: { keyVar: 'OPENAI_API_KEY', urlVar: 'OPENAI_BASE_URL', defaultUrl: 'https://api.openai.com/v1' },
  anthropic: { keyVar: 'ANTHROPIC_API_KEY', urlVar: 'ANTHROPIC_BASE_URL', defaultUrl: 'https://api.anthropic.com' },
  google: { keyVar: 'GEMINI_API_KEY', urlVar: 'GEMINI_BASE_URL', defaultUrl: 'https://generativelanguage.googleapis.com/v1beta/openai/' },
  deepseek: { keyVar: 'DEEPSEEK_API_KEY', urlVar: 'DEEPSEEK_BASE_URL', defaultUrl: 'https://api.deepseek.com/v1' },
};

export function providerConnection(id: RemoteProviderId, env: NodeJS.ProcessEnv = process.env): ProviderConnection {
  const spec = REMOTE[id];
  return {
    apiKey: env[spec.keyVar]?.trim() || undefined,
    baseURL: env[spec.urlVar]?.trim() || spec.defaultUrl,
    timeoutMs: Number(env.UPSTREAM_TIMEOUT_MS ?? 120_000),
  };
}

/** The setting that holds a remote provider's base URL, for messages to the operator. */
export function providerUrlVar(id: RemoteProviderId): string {
  return REMOTE[id].urlVar;
}

/** Why a provider cannot serve right now, from configuration alone; null when it can. */
export function configurationProblem(id: ProviderId, env: NodeJS.ProcessEnv = process.env): string | null {
  if (id === 'local') return env.LOCAL_MODEL_ENABLED === 'false' ? 'LOCAL_MODEL_ENABLED is false' : null;
  return providerConnection(id, env).apiKey ? null : `${REMOTE[id].keyVar} is not set`;
}

export type ProviderFactory = (id: ProviderId) => ChatProvider;

/**
 * A remote provider's adapter on a key other than the platform's (a seller pool's, a key being
 * verified), at the base URL and timeout the environment gives that provider.
 */
export function createKeyedProvider(id: RemoteProviderId, apiKey: string, env: NodeJS.ProcessEnv = process.env, timeoutMs?: number): ChatProvider {
  const connection = { ...providerConnection(id, env), apiKey, ...(timeoutMs !== undefined && { timeoutMs }) };
  switch (id) {
    case 'openai':
      return createOpenAIProvider(connection);
    case 'google':
      return createGoogleProvider(connection);
    case 'deepseek':
      return createDeepSeekProvider(connection);
    case 'anthropic':
      return createAnthropicProvider(connection);
  }
}

/**
 * Builds each provider once per process from the environment. Tests and the benchmark pass
 * their own environment (pointing base URLs at the fake upstream) through `createProviderFactory`.
 */
export function createProviderFactory(env: NodeJS.ProcessEnv = process.env): ProviderFactory {
  const cache = new Map<ProviderId, ChatProvider>();
  const build = (id: ProviderId): ChatProvider => {
    switch (id) {
      case 'local':
        return createLocalProvider({ tokenDelayMs: Number(env.LOCAL_MODEL_TOKEN_DELAY_MS ?? 20) });
      case 'openai':
        return createOpenAIProvider(providerConnection(id, env));
      case 'google':
        return createGoogleProvider(providerConnection(id, env));
      case 'deepseek':
        return createDeepSeekProvider(providerConnection(id, env));
      case 'anthropic':
        return createAnthropicProvider(providerConnection(id, env));
    }
  };
  return (id) => {
    let provider = cache.get(id);
    if (!provider) {
      provider = build(id);
      cache.set(id, provider);
    }
    return provider;
  };
}
