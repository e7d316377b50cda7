import type { ApiRequest } from '../http/api-request';
import { modelKind, type CatalogModel } from '../catalog/catalog';
import { offeringMarkupBps } from '../catalog/pricing';
import { microsToUsdNumber } from '../money';
import { basisPointsToPercentNumber } from '../percent';
import { json } from '../http/json';
import { bearerToken } from '../http/credentials';
import { authenticateApiKey } from './auth';
import type { GatewayContext } from './context';
import { currentCounters, quotaHeaders } from './limits';

/** GET /v1/models — the OpenAI list shape plus status and prices. No key needed; with one, only what it may use. */
export async function handleListModels(ctx: GatewayContext, request: ApiRequest): Promise<Response> {
  const key = bearerToken(request) ? await authenticateApiKey(ctx.db, request) : null;
  const catalog = await ctx.catalog.get();
  const models = key?.allowedModels ? catalog.models.filter((m) => key.allowedModels!.includes(m.id)) : catalog.models;
  const headers = key ? { headers: quotaHeaders(key, currentCounters(key)) } : undefined;
  // Anthropic's SDKs (which always send anthropic-version) read their own list shape.
  if (request.headers.has('anthropic-version')) return json(toAnthropicModelList(models), headers);
  return json({ object: 'list', data: models.map(toOpenAIModel) }, headers);
}

/** Anthropic's models page: the whole catalog as one page. */
export function toAnthropicModelList(models: CatalogModel[]) {
  const data = models.map((model) => ({ type: 'model' as const, id: model.id, display_name: model.name, created_at: model.createdAt.toISOString() }));
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

export function toOpenAIModel(model: CatalogModel) {
  const offering = model.offerings[0];
  const embedding = modelKind(model) === 'embedding';
  const input = offering ? microsToUsdNumber(offering.sellInputPer1M) : null;
  // An embedding model bills input only: no output price rather than a price of 0.
  const output = offering && !embedding ? microsToUsdNumber(offering.sellOutputPer1M) : null;
  // The provider's own list price beside ours, so a client can see what the markup costs.
  const listInput = offering ? microsToUsdNumber(offering.listInputPer1M) : null;
  const listOutput = offering && !embedding ? microsToUsdNumber(offering.listOutputPer1M) : null;
  const markup = offering ? offeringMarkupBps(offering) : null;
  return {
    id: model.id,
    object: 'model' as const,
    created: Math.floor(model.createdAt.getTime() / 1000),
    owned_by: model.ownedBy,
    name: model.name,
    provider: offering?.providerId ?? null,
    providers: model.offerings.map((o) => ({ id: o.providerId, status: o.status, ...(o.reason ? { reason: o.reason } : {}) })),
    status: model.status === 'live' ? ('live' as const) : ('unavailable' as const),
    ...(model.status !== 'live' ? { reason: model.reason } : {}),
    kind: modelKind(model),
    context_length: model.contextLength,
    max_output_tokens: embedding ? null : model.maxOutputTokens,
    // Embedding models: context_length is the limit per input; `dimensions` may ask for
    // min_dimensions up to dimensions (min_dimensions null: the length is fixed).
    ...(embedding ? { dimensions: model.embedding?.dimensions ?? null, min_dimensions: model.embedding?.minDimensions ?? null } : {}),
    pricing: {
      input_per_1m: input,
      output_per_1m: output,
      list_input_per_1m: listInput,
      list_output_per_1m: listOutput,
      markup_pct: markup === null ? null : basisPointsToPercentNumber(markup),
      currency: 'USD' as const,
    },
    input_price_per_1m_tokens: input,
    output_price_per_1m_tokens: output,
  };
}
