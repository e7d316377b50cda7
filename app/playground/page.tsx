import type { Metadata } from 'next';
import { Playground } from '@/components/playground/playground';
import { listPublicModels } from '@/lib/catalog/models';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Playground' };

export default async function PlaygroundPage() {
  // The playground chats: embedding models have nothing to say there.
  const models = (await listPublicModels()).filter((m) => m.kind === 'chat');
  // Live models first (the built-in one leads when live), the rest listed but not selectable.
  const sorted = [...models].sort((a, b) => Number(a.status !== 'live') - Number(b.status !== 'live'));
  return <Playground models={sorted.map((m) => ({ id: m.id, name: m.name, status: m.status, reason: m.reason, inputPer1M: m.inputPer1M, outputPer1M: m.outputPer1M }))} />;
}
