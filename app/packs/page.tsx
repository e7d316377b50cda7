import type { Metadata } from 'next';
import { PackShop } from '@/components/packs/pack-shop';
import { getCatalogCache } from '@/lib/catalog/models';
import { getDb } from '@/lib/db/client';
import { listPacks } from '@/lib/packs/packs';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Credit packs' };

export default async function PacksPage() {
  // The shop renders on the server (signed out or not); the client then keeps it fresh from /api/packs.
  const [packs, catalog] = await Promise.all([listPacks(getDb()), getCatalogCache().get()]);
  const names = {
    providers: Object.fromEntries(catalog.providers.map((p) => [p.id, p.name])),
    models: Object.fromEntries(catalog.models.map((m) => [m.id, m.name])),
  };
  return <PackShop initialPacks={packs} names={names} />;
}
