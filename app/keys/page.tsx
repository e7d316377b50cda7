import type { Metadata } from 'next';
import { KeysManager } from '@/components/keys/keys-manager';
import { requireUser } from '@/lib/auth/server';
import { listPublicModels } from '@/lib/catalog/models';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'API keys' };

export default async function KeysPage() {
  await requireUser('/keys');
  const models = (await listPublicModels()).map((m) => ({ id: m.id, name: m.name, status: m.status, kind: m.kind }));
  return <KeysManager models={models} />;
}
