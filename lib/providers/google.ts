import { createOpenAICompatibleProvider } from './openai-compatible';
import type { ChatProvider, ProviderConnection } from './types';

/** Gemini's OpenAI-compatible endpoint; the trailing slash is part of Google's documented URL. */
export const GOOGLE_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta/openai/';

export function createGoogleProvider(connection: ProviderConnection): ChatProvider {
  return createOpenAICompatibleProvider({ id: 'google', connection });
}
