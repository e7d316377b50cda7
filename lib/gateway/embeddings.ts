import type { ApiRequest } from '../http/api-request';
import { type AnyResponse } from '../http/api-response';
import type { Catalog } from '../catalog/catalog';
import { microsToUsdNumber } from '../money';
import { UpstreamError, type UpstreamEmbeddingRequest, type UpstreamUsage } from '../providers/types';
import { invalidRequest, parseOrThrow } from '../http/errors';
import { readJsonBody } from '../http/json';
import type { KeyContext } from './auth';
import { authenticateKey, withQuotaHeaders, type Caller } from './caller';
import { beginCall, failedCall, runCall, settledJson, type Call } from './call';
import type { GatewayContext } from './context';
import { embeddingInputs, embeddingRequestSchema, type EmbeddingRequest } from './embeddings-schema';
import { withFailover } from './failover';
import { atListPrice, maximumCost } from './pricing';
import { resolveCandidates, type RoutePlan } from './routing';
import { billingForClient, release, settle } from './settle';
import { TokenCounter, promptTokensUpperBound, utf8Bytes } from './tokens';

/**
 * POST /v1/embeddings, OpenAI's wire format, on the chat pipeline: authenticate → validate → plan
 * (the model must be an embedding model) and hold the most its input can cost → call the upstream,
 * failing over before any answer → settle at the upstream's reported input tokens. No streaming.
 */
export async function handleEmbeddings(ctx: GatewayContext, request: ApiRequest, requestId: string): Promise<AnyResponse> {
  const caller: Caller = { key: null };
  try {
    const startedAt = performance.now();
    await authenticateKey(ctx, request, caller, 'send it as Authorization: Bearer tg_…');
    const raw = await readJsonBody(request);
    const body = parseOrThrow(embeddingRequestSchema, raw);
    const inputs = embeddingInputs(body.input);
    const plan = planEmbeddings(await ctx.catalog.get(), caller.key!, body, inputs);
    const call = await beginCall(ctx, { request, requestId, startedAt, key: caller.key!, plan, body: raw, stream: false, surface: 'api', principalHeaders: {} });
    if (call instanceof Response) return call;
    return runCall(call, () => embed(ctx, call, body, inputs));
  } catch (error) {
    withQuotaHeaders(error, caller);
    throw error;
  }
}

/**
 * The route and the hold: the input tokens, counted as chat prompts are (exactly while cheap,
 * otherwise by bytes) and padded the same way, at the input price of the dearest candidate. An
 * embedding has no output, so that is all an upstream can bill.
 */
export function planEmbeddings(catalog: Catalog, key: Pick<KeyContext, 'allowedModels'>, body: EmbeddingRequest, inputs: Array<string | number[]>): RoutePlan {
  const { model, candidates } = resolveCandidates(catalog, key, body, 'embedding');
  if (body.dimensions !== undefined) {
    const native = model.embedding?.dimensions;
    const least = model.embedding?.minDimensions ?? null;
    if (native === undefined || least === null) {
      throw invalidRequest(`'${model.id}' does not take 'dimensions': its vectors have a fixed length${native ? ` of ${native}` : ''}.`, 'dimensions');
    }
    if (body.dimensions < least || body.dimensions > native) {
      throw invalidRequest(`'dimensions' is ${body.dimensions}, but '${model.id}' makes vectors of ${least} to ${native} dimensions.`, 'dimensions');
    }
  }
  const counter = new TokenCounter();
  let counted = 0;
  for (const [index, input] of inputs.entries()) {
    const tokens = typeof input === 'string' ? counter.text(input) : input.length;
    // Token ids are exact, and a text counted below its byte length was counted exactly, in o200k,
    // whose large vocabulary the providers' own tokenizers (cl100k for text-embedding-3) rarely
    // undercut. A text counted by its bytes may still fit: the upstream judges it (its refusal is free).
    const exact = typeof input !== 'string' || tokens < utf8Bytes(input);
    if (exact && tokens > model.contextLength) {
      const param = typeof body.input === 'string' || (inputs.length === 1 && typeof body.input[0] === 'number') ? 'input' : `input[${index}]`;
      throw invalidRequest(`'${param}' has ${tokens} tokens; '${model.id}' takes at most ${model.contextLength} tokens per input.`, param);
    }
    counted += tokens;
  }
  let holdAmount = 1n;
  const listHolds: RoutePlan['listHolds'] = {};
  for (const offering of candidates) {
    const cost = maximumCost(offering, promptTokensUpperBound(counted), 0);
    if (cost > holdAmount) holdAmount = cost;
    listHolds[offering.providerId] = maximumCost(atListPrice(offering), promptTokensUpperBound(counted), 0);
  }
  return { model, candidates, maxOutputTokens: 0, countedPromptTokens: counted, holdAmount, promptHold: holdAmount, listHolds };
}

async function embed(ctx: GatewayContext, call: Call, body: EmbeddingRequest, inputs: Array<string | number[]>): Promise<AnyResponse> {
  let outcome;
  try {
    outcome = await withFailover(ctx, call, (provider, offering) => {
      // An embedding model offered by a provider that makes none is a catalog mistake: try the next.
      if (!provider.embed) return Promise.reject(new UpstreamError({ kind: 'server_error', providerId: provider.id, message: `${provider.id} makes no embeddings` }));
      const upstream: UpstreamEmbeddingRequest = {
        model: offering.upstreamModel,
        input: inputs,
        ...(body.dimensions !== undefined ? { dimensions: body.dimensions } : {}),
        ...(body.user !== undefined ? { user: body.user } : {}),
      };
      return provider.embed(upstream, { signal: call.upstreamAbort.signal });
    });
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const { offering, result } = outcome;
  // Inputs are never empty (refused), so a reported 0 is a missing count, not a free call.
  const promptTokens = result.promptTokens || call.plan.countedPromptTokens;
  const usage: UpstreamUsage = { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens };
  const billing = await settle(ctx, call, offering, usage, 'SUCCESS');
  const base64 = body.encoding_format === 'base64';
  const payload = {
    object: 'list',
    data: result.vectors.map((vector, index) => ({ object: 'embedding', index, embedding: base64 ? float32Base64(vector) : vector })),
    model: call.plan.model.id,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, cost: microsToUsdNumber(billing.cost) },
    billing: billingForClient(call, billing),
  };
  return settledJson(ctx, call, billing, payload);
}

/** OpenAI's base64 encoding: the vector as little-endian float32s. */
export function float32Base64(vector: number[]): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (const [i, x] of vector.entries()) bytes.writeFloatLE(x, i * 4);
  return bytes.toString('base64');
}
