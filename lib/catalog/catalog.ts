import type { Db } from '../db/client';
import type { Micros } from '../money';
import { configurationProblem } from '../providers/registry';
import type { ProviderId } from '../providers/types';
import { nowMs } from '../clock';

export type AvailabilityStatus = 'live' | 'unavailable' | 'disabled';

export type CatalogOffering = {
  id: string;
  modelId: string;
  providerId: ProviderId;
  upstreamModel: string;
  /** The provider's own list price per 1M tokens: what a buyer would pay going direct. */
  listInputPer1M: Micros;
  listOutputPer1M: Micros;
  sellInputPer1M: Micros;
  sellOutputPer1M: Micros;
  status: AvailabilityStatus;
  reason: string | null;
};

/** What a model does: chat completions (every dialect of them) or embeddings. */
export type ModelKind = 'chat' | 'embedding';

export type CatalogModel = {
  id: string;
  name: string;
  ownedBy: string;
  contextLength: number;
  maxOutputTokens: number;
  /** Cheapest live offering first, then the rest by price. */
  offerings: CatalogOffering[];
  status: AvailabilityStatus;
  reason: string | null;
  createdAt: Date;
  /** Absent means 'chat'. */
  kind?: ModelKind;
  /** Embedding models: the native vector length and the least `dimensions` allowed (null: fixed length). */
  embedding?: { dimensions: number; minDimensions: number | null } | null;
};

export function modelKind(model: Pick<CatalogModel, 'kind'>): ModelKind {
  return model.kind ?? 'chat';
}

export type Catalog = {
  models: CatalogModel[];
  byId: Map<string, CatalogModel>;
  providers: Array<{ id: ProviderId; name: string; status: AvailabilityStatus; reason: string | null }>;
};

/**
 * The catalog changes rarely and is read on every request, so it is cached in memory for
 * CATALOG_CACHE_MS (5 s by default; an admin change made on this instance clears it at once,
 * other instances see it within that window).
 */
export class CatalogCache {
  #value: { catalog: Catalog; expiresAt: number } | null = null;
  #loading: Promise<Catalog> | null = null;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = Number(process.env.CATALOG_CACHE_MS ?? 5_000),
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async get(): Promise<Catalog> {
    if (this.#value && this.#value.expiresAt > nowMs()) return this.#value.catalog;
    this.#loading ??= loadCatalog(this.db, this.env)
      .then((catalog) => {
        this.#value = { catalog, expiresAt: nowMs() + this.ttlMs };
        return catalog;
      })
      .finally(() => {
        this.#loading = null;
      });
    return this.#loading;
  }

  invalidate(): void {
    this.#value = null;
  }
}

export async function loadCatalog(db: Db, env: NodeJS.ProcessEnv = process.env): Promise<Catalog> {
  const now = new Date();
  const [providers, models, pooled] = await Promise.all([
    db.provider.findMany({ orderBy: { id: 'asc' } }),
    db.model.findMany({ where: { enabled: true }, include: { offerings: true }, orderBy: { id: 'asc' } }),
    // A provider whose platform key is not set still serves through sellers' live pools.
    db.sellerPool.findMany({ where: { status: 'LIVE', encryptedKey: { not: null }, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] }, select: { providerId: true }, distinct: ['providerId'] }),
  ]);
  const hasPools = new Set(pooled.map((pool) => pool.providerId));
  const providerState = new Map(
    providers.map((p) => {
      const id = p.id as ProviderId;
      const state: { status: AvailabilityStatus; reason: string | null } =
        p.status === 'DISABLED'
          ? { status: 'disabled', reason: p.statusReason ?? 'disabled by an administrator' }
          : (() => {
              const problem = configurationProblem(id, env);
              return problem && !hasPools.has(id) ? { status: 'unavailable' as const, reason: problem } : { status: 'live' as const, reason: null };
            })();
      return [id, { id, name: p.name, ...state }];
    }),
  );

  const catalogModels: CatalogModel[] = models.map((model) => {
    const offerings = model.offerings
      .map((o): CatalogOffering => {
        const state = providerState.get(o.providerId as ProviderId) ?? { status: 'unavailable' as const, reason: `provider ${o.providerId} is unknown` };
        return {
          id: o.id,
          modelId: o.modelId,
          providerId: o.providerId as ProviderId,
          upstreamModel: o.upstreamModel,
          listInputPer1M: o.upstreamInputPer1M,
          listOutputPer1M: o.upstreamOutputPer1M,
          sellInputPer1M: o.sellInputPer1M,
          sellOutputPer1M: o.sellOutputPer1M,
          status: state.status,
          reason: state.reason,
        };
      })
      .sort((a, b) => Number(a.status !== 'live') - Number(b.status !== 'live') || compareBigint(offeringPrice(a), offeringPrice(b)));
    const best = offerings[0];
    return {
      id: model.id,
      name: model.name,
      ownedBy: model.ownedBy,
      contextLength: model.contextLength,
      maxOutputTokens: model.maxOutputTokens,
      offerings,
      status: best?.status ?? 'unavailable',
      reason: best ? best.reason : 'no provider offers this model',
      createdAt: model.createdAt,
      kind: model.kind === 'embedding' ? 'embedding' : 'chat',
      embedding: model.kind === 'embedding' && model.embeddingDimensions !== null ? { dimensions: model.embeddingDimensions, minDimensions: model.embeddingMinDimensions } : null,
    };
  });

  return { models: catalogModels, byId: new Map(catalogModels.map((m) => [m.id, m])), providers: [...providerState.values()] };
}

/** A price to rank offerings by: input + output per 1M, the way a typical chat call weighs them. */
function offeringPrice(offering: CatalogOffering): Micros {
  return offering.sellInputPer1M + offering.sellOutputPer1M;
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
