import { getDb } from '../db/client';
import { microsToUsdNumber } from '../money';
import { CatalogCache, modelKind } from './catalog';
import { offeringMarkupBps } from './pricing';

const globalForCatalog = globalThis as unknown as { tollgateCatalog?: CatalogCache };

/** The process-wide catalog cache over the process-wide database client. */
export function getCatalogCache(): CatalogCache {
  globalForCatalog.tollgateCatalog ??= new CatalogCache(getDb());
  return globalForCatalog.tollgateCatalog;
}

/** What the public pages show of one model. */
export type PublicModel = Awaited<ReturnType<typeof listPublicModels>>[number];

/**
 * What the public pages show of the catalog: ids, kind, status with its reason, sell prices in USD
 * per 1M tokens beside the provider's list prices, and the markup between them in basis points.
 */
export async function listPublicModels() {
  const catalog = await getCatalogCache().get();
  return catalog.models.map((m) => {
    const best = m.offerings[0];
    const chat = modelKind(m) === 'chat';
    return {
      id: m.id,
      name: m.name,
      status: m.status,
      reason: m.reason,
      provider: best?.providerId ?? null,
      kind: modelKind(m),
      contextLength: m.contextLength,
      dimensions: m.embedding?.dimensions ?? null,
      inputPer1M: best ? microsToUsdNumber(best.sellInputPer1M) : null,
      // Embedding models bill input only.
      outputPer1M: best && chat ? microsToUsdNumber(best.sellOutputPer1M) : null,
      listInputPer1M: best ? microsToUsdNumber(best.listInputPer1M) : null,
      listOutputPer1M: best && chat ? microsToUsdNumber(best.listOutputPer1M) : null,
      markupBps: best ? offeringMarkupBps(best) : null,
    };
  });
}
