// The catalog a fresh instance starts with. Prices are the providers' public list prices in
// micro-USD per 1M tokens (standard tier, prompts under any long-context threshold).
import { usdToMicros, type Micros } from '../money';

export type ProviderId = 'anthropic' | 'google' | 'openai' | 'deepseek' | 'local';

export const SEED_PROVIDERS: Array<{ id: ProviderId; name: string }> = [
  { id: 'anthropic', name: 'Anthropic' },
  { id: 'google', name: 'Google Gemini' },
  { id: 'openai', name: 'OpenAI' },
  { id: 'deepseek', name: 'DeepSeek' },
  { id: 'local', name: 'Tollgate local' },
];

export type SeedModel = {
  id: string;
  name: string;
  ownedBy: string;
  providerId: ProviderId;
  upstreamModel: string;
  contextLength: number;
  maxOutputTokens: number;
  inputPer1M: Micros;
  outputPer1M: Micros;
  /** Absent for chat models. An embedding model's contextLength is its limit per input. */
  embedding?: { dimensions: number; minDimensions: number | null };
};

const usd = usdToMicros;

export const LOCAL_MODEL_ID = 'tollgate-local';

export const SEED_MODELS: SeedModel[] = [
  { id: 'claude-haiku-4-5', name: 'Claude Haiku 4.5', ownedBy: 'anthropic', providerId: 'anthropic', upstreamModel: 'claude-haiku-4-5', contextLength: 200_000, maxOutputTokens: 64_000, inputPer1M: usd('1'), outputPer1M: usd('5') },
  { id: 'claude-sonnet-4-5', name: 'Claude Sonnet 4.5', ownedBy: 'anthropic', providerId: 'anthropic', upstreamModel: 'claude-sonnet-4-5', contextLength: 200_000, maxOutputTokens: 64_000, inputPer1M: usd('3'), outputPer1M: usd('15') },
  { id: 'gemini-2.5-flash', name: 'Gemini 2.5 Flash', ownedBy: 'google', providerId: 'google', upstreamModel: 'gemini-2.5-flash', contextLength: 1_048_576, maxOutputTokens: 65_536, inputPer1M: usd('0.30'), outputPer1M: usd('2.50') },
  { id: 'gemini-2.5-pro', name: 'Gemini 2.5 Pro', ownedBy: 'google', providerId: 'google', upstreamModel: 'gemini-2.5-pro', contextLength: 1_048_576, maxOutputTokens: 65_536, inputPer1M: usd('1.25'), outputPer1M: usd('10') },
  { id: 'gpt-4o-mini', name: 'GPT-4o mini', ownedBy: 'openai', providerId: 'openai', upstreamModel: 'gpt-4o-mini', contextLength: 128_000, maxOutputTokens: 16_384, inputPer1M: usd('0.15'), outputPer1M: usd('0.60') },
  { id: 'gpt-4o', name: 'GPT-4o', ownedBy: 'openai', providerId: 'openai', upstreamModel: 'gpt-4o', contextLength: 128_000, maxOutputTokens: 16_384, inputPer1M: usd('2.50'), outputPer1M: usd('10') },
  { id: 'o3-mini', name: 'o3-mini', ownedBy: 'openai', providerId: 'openai', upstreamModel: 'o3-mini', contextLength: 200_000, maxOutputTokens: 100_000, inputPer1M: usd('1.10'), outputPer1M: usd('4.40') },
  { id: 'deepseek-chat', name: 'DeepSeek V3.2 (chat)', ownedBy: 'deepseek', providerId: 'deepseek', upstreamModel: 'deepseek-chat', contextLength: 128_000, maxOutputTokens: 8_192, inputPer1M: usd('0.28'), outputPer1M: usd('0.42') },
  { id: LOCAL_MODEL_ID, name: 'Tollgate Local (built-in)', ownedBy: 'tollgate', providerId: 'local', upstreamModel: LOCAL_MODEL_ID, contextLength: 8_192, maxOutputTokens: 1_024, inputPer1M: usd('0.10'), outputPer1M: usd('0.40') },
];

export const LOCAL_EMBEDDING_MODEL_ID = 'tollgate-embed-local';

// Embedding models (/v1/embeddings), billed per input token: no output price. List prices:
// OpenAI text-embedding-3-small $0.02 and -large $0.13, Gemini gemini-embedding-001 $0.15 per 1M.
// The built-in one is a deterministic hashing embedding for offline tests and demos, not a
// semantic model (lib/providers/local-embedding.ts).
export const SEED_EMBEDDING_MODELS: SeedModel[] = [
  { id: 'text-embedding-3-small', name: 'Text Embedding 3 Small', ownedBy: 'openai', providerId: 'openai', upstreamModel: 'text-embedding-3-small', contextLength: 8_192, maxOutputTokens: 0, inputPer1M: usd('0.02'), outputPer1M: 0n, embedding: { dimensions: 1_536, minDimensions: 1 } },
  { id: 'text-embedding-3-large', name: 'Text Embedding 3 Large', ownedBy: 'openai', providerId: 'openai', upstreamModel: 'text-embedding-3-large', contextLength: 8_192, maxOutputTokens: 0, inputPer1M: usd('0.13'), outputPer1M: 0n, embedding: { dimensions: 3_072, minDimensions: 1 } },
  { id: 'gemini-embedding-001', name: 'Gemini Embedding 001', ownedBy: 'google', providerId: 'google', upstreamModel: 'gemini-embedding-001', contextLength: 2_048, maxOutputTokens: 0, inputPer1M: usd('0.15'), outputPer1M: 0n, embedding: { dimensions: 3_072, minDimensions: 128 } },
  { id: LOCAL_EMBEDDING_MODEL_ID, name: 'Tollgate Embed Local (built-in, hashing)', ownedBy: 'tollgate', providerId: 'local', upstreamModel: LOCAL_EMBEDDING_MODEL_ID, contextLength: 8_192, maxOutputTokens: 0, inputPer1M: usd('0.01'), outputPer1M: 0n, embedding: { dimensions: 256, minDimensions: 1 } },
];

export type SeedPack = {
  id: string;
  name: string;
  description: string;
  price: Micros;
  faceValue: Micros;
  validityDays: number;
  scopeProviderId?: ProviderId;
  scopeModelId?: string;
};

export const SEED_PACKS: SeedPack[] = [
  { id: 'pk_credit_50', name: 'Credit 50', description: '$52.50 of credit for any model.', price: usd('50'), faceValue: usd('52.50'), validityDays: 365 },
  { id: 'pk_credit_200', name: 'Credit 200', description: '$220 of credit for any model.', price: usd('200'), faceValue: usd('220'), validityDays: 365 },
  { id: 'pk_credit_1000', name: 'Credit 1000', description: '$1,150 of credit for any model.', price: usd('1000'), faceValue: usd('1150'), validityDays: 365 },
  { id: 'pk_claude_sonnet_100', name: 'Claude Sonnet 100', description: '$125 of Claude Sonnet 4.5 for $100.', price: usd('100'), faceValue: usd('125'), validityDays: 90, scopeModelId: 'claude-sonnet-4-5' },
  { id: 'pk_gemini_25', name: 'Gemini 25', description: '$30 of any Gemini model for $25.', price: usd('25'), faceValue: usd('30'), validityDays: 60, scopeProviderId: 'google' },
  { id: 'pk_local_2', name: 'Local sampler', description: '$5 of the built-in model for $2.', price: usd('2'), faceValue: usd('5'), validityDays: 30, scopeModelId: LOCAL_MODEL_ID },
];
