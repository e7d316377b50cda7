import { modelKind, type Catalog, type CatalogModel, type CatalogOffering, type ModelKind } from '../catalog/catalog';
import type { Micros } from '../money';
import type { ProviderId } from '../providers/types';
import type { KeyContext } from './auth';
import { forbidden, invalidRequest, notFound, unavailable } from '../http/errors';
import { atListPrice, maximumCost } from './pricing';
import type { ChatCompletionRequest } from './schema';
import { countPrompt, promptTokensOn, promptTokensUpperBound } from './tokens';

const PROVIDER_IDS: ReadonlySet<string> = new Set<ProviderId>(['anthropic', 'google', 'openai', 'deepseek', 'local']);

export type RoutePlan = {
  model: CatalogModel;
  /** Live offerings to try in order: cheapest first, the rest for failover. */
  candidates: CatalogOffering[];
  maxOutputTokens: number;
  /**
   * Counted (unpadded) prompt tokens, images at the most any candidate bills for them: the
   * fallback when an upstream reports no usage.
   */
  countedPromptTokens: number;
  /** What is reserved: the maximum cost on the dearest candidate, since failover may land there. */
  holdAmount: Micros;
  /** The prompt's part of it (the same bound with no output): what a call costs before its first token. */
  promptHold: Micros;
  /**
   * Per candidate provider, the same bound at the provider's list price: what a seller pool's key
   * can be billed for this call, held on the pool while it serves.
   */
  listHolds: Partial<Record<ProviderId, Micros>>;
};

/** `claude-haiku-4-5` or `anthropic/claude-haiku-4-5`, plus the optional `provider` field. */
export function resolveModelId(requested: string, providerField: string | undefined): { modelId: string; pinned: ProviderId | null } {
  let modelId = requested;
  let pinned: string | null = null;
  const slash = requested.indexOf('/');
  if (slash > 0 && PROVIDER_IDS.has(requested.slice(0, slash))) {
    pinned = requested.slice(0, slash);
    modelId = requested.slice(slash + 1);
  }
  if (providerField !== undefined) {
    if (!PROVIDER_IDS.has(providerField)) {
      throw invalidRequest(`Unknown provider '${providerField}'. Use one of: ${[...PROVIDER_IDS].join(', ')}.`, 'provider');
    }
    if (pinned && pinned !== providerField) {
      throw invalidRequest(`The model prefix '${pinned}/' and provider '${providerField}' disagree.`, 'provider');
    }
    pinned = providerField;
  }
  return { modelId, pinned: pinned as ProviderId | null };
}

/**
 * Anthropic names each model's snapshot by its date (`claude-sonnet-4-5-20250929`), and the alias
 * without it points at that same snapshot; clients such as Claude Code send the dated name. The
 * catalog lists the alias, so a dated name is that model (answered, priced and sent upstream as the
 * catalog's). Only Anthropic's eight-digit form: OpenAI's dated names (`gpt-4o-2024-05-13`) can be
 * older snapshots at other prices.
 */
function anthropicSnapshot(catalog: Catalog, modelId: string): CatalogModel | undefined {
  const alias = modelId.replace(/-20\d{6}$/, '');
  const model = alias === modelId ? undefined : catalog.byId.get(alias);
  return model?.offerings.some((offering) => offering.providerId === 'anthropic') ? model : undefined;
}

/** Why a model of the other kind is refused, by the kind the endpoint serves. */
const WRONG_KIND: Record<ModelKind, string> = {
  chat: 'is an embedding model: call POST /v1/embeddings with it. This endpoint needs a chat model.',
  embedding: 'is a chat model and makes no embeddings: POST /v1/embeddings needs an embedding model.',
};

/**
 * The model asked for and its live offerings to try, for an endpoint that serves models of `kind`:
 * every refusal (unknown, wrong kind, not allowed for the key, not offered, unavailable) named.
 */
export function resolveCandidates(
  catalog: Catalog,
  key: Pick<KeyContext, 'allowedModels'>,
  requested: { model: string; provider?: string },
  kind: ModelKind,
): { model: CatalogModel; candidates: CatalogOffering[] } {
  const { modelId, pinned } = resolveModelId(requested.model, requested.provider);
  const model = catalog.byId.get(modelId) ?? anthropicSnapshot(catalog, modelId);
  if (!model) {
    throw notFound('model_not_found', `The model '${requested.model}' does not exist. GET /v1/models lists the models on this instance.`, 'model');
  }
  if (modelKind(model) !== kind) throw invalidRequest(`The model '${model.id}' ${WRONG_KIND[kind]} GET /v1/models lists each model's kind.`, 'model', 'wrong_model_kind');
  if (key.allowedModels && !key.allowedModels.includes(model.id)) {
    throw forbidden('model_not_allowed', `This API key may not use the model '${model.id}'.`);
  }
  const offered = pinned ? model.offerings.filter((o) => o.providerId === pinned) : model.offerings;
  if (offered.length === 0) throw notFound('model_not_found', `The model '${model.id}' is not offered by provider '${pinned}'.`, 'provider');
  const candidates = offered.filter((o) => o.status === 'live');
  if (candidates.length === 0) {
    const reason = offered[0]?.reason ?? 'no provider is available';
    throw unavailable('model_unavailable', `The model '${model.id}' is unavailable: ${reason}.`);
  }
  return { model, candidates };
}

/** `cacheWrites`: the request may write the provider's prompt cache (Anthropic cache_control), priced above input. */
export function planRoute(catalog: Catalog, key: Pick<KeyContext, 'allowedModels'>, body: ChatCompletionRequest, { cacheWrites = false }: { cacheWrites?: boolean } = {}): RoutePlan {
  const { model, candidates } = resolveCandidates(catalog, key, body, 'chat');
  const requested = body.max_completion_tokens ?? body.max_tokens ?? null;
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  if (requested !== null && requested > model.maxOutputTokens) {
    throw invalidRequest(`'${param}' is ${requested}, but '${model.id}' produces at most ${model.maxOutputTokens} output tokens.`, param);
  }
  const maxOutputTokens = requested ?? model.maxOutputTokens;
  const choices = body.n ?? 1;
  // Everything the upstream reads, counted once; an image's tokens depend on the model reading it.
  const prompt = countPrompt(body);
  let countedPromptTokens = prompt.tokens;
  let holdAmount = 1n;
  let promptHold = 0n;
  const listHolds: RoutePlan['listHolds'] = {};
  for (const offering of candidates) {
    const counted = promptTokensOn(offering, prompt);
    if (counted > countedPromptTokens) countedPromptTokens = counted;
    const cost = maximumCost(offering, promptTokensUpperBound(counted), maxOutputTokens * choices, cacheWrites);
    if (cost > holdAmount) holdAmount = cost;
    listHolds[offering.providerId] = maximumCost(atListPrice(offering), promptTokensUpperBound(counted), maxOutputTokens * choices, cacheWrites);
    const promptCost = maximumCost(offering, promptTokensUpperBound(counted), 0, cacheWrites);
    if (promptCost > promptHold) promptHold = promptCost;
  }
  return { model, candidates, maxOutputTokens, countedPromptTokens, holdAmount, promptHold, listHolds };
}
