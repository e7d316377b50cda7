import { createOpenAICompatibleProvider } from './openai-compatible';
import type { ChatProvider, ProviderConnection } from './types';

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export function createOpenAIProvider(connection: ProviderConnection): ChatProvider {
  // OpenAI alone also serves its Responses API, which /v1/responses calls natively.
  return createOpenAICompatibleProvider({ id: 'openai', connection, nativeResponses: true });
}
