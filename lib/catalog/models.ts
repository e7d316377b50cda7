import { getDb } from '../db/client';
import { CatalogCache } from './catalog';

const globalForCatalog = globalThis as unknown as { tollgateCatalog?: CatalogCache };

/** The process-wide catalog cache over the process-wide database client. */
export function getCatalogCache(): CatalogCache {
  globalForCatalog.tollgateCatalog ??= new CatalogCache(getDb());
  return globalForCatalog.tollgateCatalog;
}

export async function listPublicModels() {
  const catalog = await getCatalogCache().get();
  return catalog.models.map((m) => ({ id: m.id, name: m.name, status: m.status, reason: m.reason }));
}
