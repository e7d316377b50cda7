import { createOpenAICompatibleProvider } from './openai-compatible';
import type { ChatProvider, ProviderConnection } from './types';

export const DEEPSEEK_DEFAULT_BASE_URL = 'https://api.deepseek.com/v1';

export function createDeepSeekProvider(connection: ProviderConnection): ChatProvider {
  return createOpenAICompatibleProvider({ id: 'deepseek', connection });
}
