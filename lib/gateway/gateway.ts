import type { ApiRequest } from '../http/api-request';
import { toWebResponse, type AnyResponse } from '../http/api-response';
import { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import { trustedProxies } from '../http/client-address';
import { json } from '../http/json';
import { newId } from '../ids';
import { Ledger } from '../ledger/ledger';
import { logger } from '../logger';
import { createProviderFactory, type ProviderFactory } from '../providers/registry';
import { PoolDirectory } from '../sellers/pool-directory';
import { handleChatCompletions } from './chat';
import { handleEmbeddings } from './embeddings';
import { handleResponses } from './responses';
import type { GatewayContext, PayPerRequest } from './context';
import { anthropicErrorResponse, errorResponse } from '../http/errors';
import { onlyMethods, unknownUrl } from '../http/unrouted';
import { KeyCache } from './auth';
import { handleKeyInfo } from './key-info';
import { handleCountTokens, handleMessages } from './messages';
import { handleCredentialOnly } from './caller';
import { handleListModels } from './models';
import { createRateLimiter, type RateLimiter } from './rate-limit';
import { GrantBook } from './grants';
import { recordUnbilled } from './settle';

export type GatewayOptions = {
  db: Db;
  env?: NodeJS.ProcessEnv;
  providers?: ProviderFactory;
  catalog?: CatalogCache;
  rateLimiter?: RateLimiter;
  holdTtlMs?: number;
  payPerRequest?: PayPerRequest;
  pools?: PoolDirectory;
};

export type Gateway = ReturnType<typeof createGateway>;

/**
 * The framework-free gateway: Web `Request` in, Web `Response` out (or, for the Node server, the
 * lighter ApiRequest in and ApiResponse out: lib/http/api-response.ts). Next's route handlers, the
 * lean Node server (lib/server/node-server.ts) and the tests all call these same functions.
 */
export function createGateway(options: GatewayOptions) {
  const env = options.env ?? process.env;
  const ledger = new Ledger(options.db, env);
  const holdTtlMs = options.holdTtlMs ?? Number(env.HOLD_TTL_MS ?? 10 * 60_000);
  const ctx: GatewayContext = {
    db: options.db,
    ledger,
    catalog: options.catalog ?? new CatalogCache(options.db, Number(env.CATALOG_CACHE_MS ?? 5_000), env),
    providers: options.providers ?? createProviderFactory(env),
    rateLimiter: options.rateLimiter ?? createRateLimiter(env),
    holdTtlMs,
    streamIdleTimeoutMs: Number(env.UPSTREAM_IDLE_TIMEOUT_MS ?? 60_000),
    payPerRequest: options.payPerRequest,
    keylessRateLimit: { burst: Number(env.KEYLESS_RATE_LIMIT_BURST ?? 60), perSecond: Number(env.KEYLESS_RATE_LIMIT_PER_SEC ?? 2) },
    trustedProxies: trustedProxies(env),
    keyCache: new KeyCache(Number(env.KEY_CACHE_MS ?? 1_000)),
    pools: options.pools ?? new PoolDirectory({ db: options.db, env }),
    grants: grantsEnabled(env)
      ? new GrantBook(ledger, holdTtlMs, {}, async (calls) => {
          for (const call of calls) await recordUnbilled(options.db, call.usage);
        })
      : null,
  };

  /**
   * The one catch for /v1: every failure leaves as an error with the request id, in the route's
   * dialect (OpenAI's shape unless the route says otherwise: Anthropic's on /v1/messages).
   */
  const wrap =
    (handler: (ctx: GatewayContext, request: ApiRequest, requestId: string) => Promise<AnyResponse>, format: typeof errorResponse = errorResponse) =>
    async (request: ApiRequest): Promise<AnyResponse> => {
      const requestId = newId('req');
      try {
        return await handler(ctx, request, requestId);
      } catch (error) {
        return format(error, { 'x-request-id': requestId });
      }
    };
  /** The same handler answering a Web Response: what Next's route handlers and the tests get. */
  const web =
    (handler: (request: ApiRequest) => Promise<AnyResponse>) =>
    async (request: ApiRequest): Promise<Response> =>
      toWebResponse(await handler(request));

  const chatCompletionsApi = wrap((c, r, id) => handleChatCompletions(c, r, id));
  const chatCompletions = web(chatCompletionsApi);
  /**
   * The web playground's call, for a key its owner is already signed in for: no secret needed. Its
   * calls are on the 'playground' surface, so they may draw playground-only lots (the welcome
   * credit); /v1 calls, whatever their key is named, never do. Only the playground calls this.
   */
  const chatCompletionsForKey = (keyId: string, request: ApiRequest) => web(wrap((c, r, id) => handleChatCompletions(c, r, id, keyId, 'playground')))(request);
  const embeddingsApi = wrap((c, r, id) => handleEmbeddings(c, r, id));
  const responsesApi = wrap((c, r, id) => handleResponses(c, r, id));
  const listModels = wrap((c, r) => handleListModels(c, r));
  // HEAD with a payment credential and no call (a session's voucher or close), where a rail takes those.
  const credentialsAlone: Record<string, (request: ApiRequest) => Promise<AnyResponse>> = ctx.payPerRequest?.credentialOnly ? { HEAD: wrap((c, r) => handleCredentialOnly(c, r)) } : {};
  const keyInfo = wrap((c, r) => handleKeyInfo(c, r));
  const messagesApi = wrap((c, r, id) => handleMessages(c, r, id), anthropicErrorResponse);
  const countTokensApi = wrap((c, r, id) => handleCountTokens(c, r, id), anthropicErrorResponse);

  async function health(): Promise<Response> {
    const started = performance.now();
    try {
      await ctx.db.$queryRawUnsafe('SELECT 1');
      return json({ status: 'ok', database: { status: 'ok', latency_ms: Math.round((performance.now() - started) * 10) / 10 } });
    } catch (error) {
      logger.error('health check: database unreachable', { error });
      return json({ status: 'degraded', database: { status: 'unreachable' } }, { status: 503 });
    }
  }

  const routes: Record<string, Record<string, (request: ApiRequest) => Promise<AnyResponse>>> = {
    '/v1/chat/completions': { POST: chatCompletionsApi, ...credentialsAlone },
    '/v1/embeddings': { POST: embeddingsApi },
    '/v1/responses': { POST: responsesApi, ...credentialsAlone },
    '/v1/models': { GET: listModels },
    '/v1/key': { GET: keyInfo },
    '/v1/messages': { POST: messagesApi },
    '/v1/messages/count_tokens': { POST: countTokensApi },
    '/health': { GET: health },
  };

  /**
   * Routes by path, for servers without their own router; the same 404 and 405 answers as the Next
   * routes. The Node server takes the answer as it is (handleApi); everyone else a Web Response.
   */
  function handleApi(request: ApiRequest): Promise<AnyResponse> {
    // Not async: the route's own promise is returned as it is, not wrapped in another one.
    const pathname = new URL(request.url).pathname.replace(/\/+$/, '');
    const methods = routes[pathname];
    if (!methods) return unknownUrl(request);
    const route = methods[request.method];
    return route ? route(request) : onlyMethods(...Object.keys(methods))(request);
  }
  const handle = web(handleApi);

  /**
   * Releases what the gateway holds open: its grants, posted and closed once the calls drawn on
   * them have ended (so that what they served is charged), and the Redis connection of a shared
   * rate limiter. A server calls it after it stopped taking requests.
   */
  const close = async () => {
    await ctx.grants?.drain();
    await ctx.rateLimiter.close();
  };

  return {
    ctx,
    chatCompletions,
    chatCompletionsForKey,
    embeddings: web(embeddingsApi),
    listModels: web(listModels),
    keyInfo: web(keyInfo),
    messages: web(messagesApi),
    countTokens: web(countTokensApi),
    health,
    handle,
    handleApi,
    close,
  };
}

/** LEDGER_GRANTS: `on` (the default) lets busy keys' calls draw on grants (docs/grants.md); `off`, every call reserves and settles on its own. */
export function grantsEnabled(env: NodeJS.ProcessEnv): boolean {
  const value = env.LEDGER_GRANTS?.trim().toLowerCase() || 'on';
  if (value !== 'on' && value !== 'off') throw new Error(`LEDGER_GRANTS must be on or off, got ${JSON.stringify(env.LEDGER_GRANTS)}`);
  return value === 'on';
}
