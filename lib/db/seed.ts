import { markupBps, sellPrice } from '../catalog/pricing';
import { SEED_EMBEDDING_MODELS, SEED_MODELS, SEED_PACKS, SEED_PROVIDERS } from '../catalog/seed-data';
import { ensureSystemAccounts } from '../ledger/accounts';
import type { Db } from './client';

/**
 * Idempotent: creates what is missing, refreshes model prices (so a changed MARKUP_PERCENT takes
 * effect), and leaves what admins own alone (provider status, pack catalog edits).
 */
export async function seed(db: Db) {
  const bps = markupBps();
  await ensureSystemAccounts(db);
  for (const provider of SEED_PROVIDERS) {
    await db.provider.upsert({ where: { id: provider.id }, create: provider, update: { name: provider.name } });
  }
  const models = [...SEED_MODELS, ...SEED_EMBEDDING_MODELS];
  for (const model of models) {
    const { id, name, ownedBy, contextLength, maxOutputTokens } = model;
    const kind = {
      kind: model.embedding ? 'embedding' : 'chat',
      embeddingDimensions: model.embedding?.dimensions ?? null,
      embeddingMinDimensions: model.embedding?.minDimensions ?? null,
    };
    await db.model.upsert({
      where: { id },
      create: { id, name, ownedBy, contextLength, maxOutputTokens, ...kind },
      update: { name, ownedBy, contextLength, maxOutputTokens, ...kind },
    });
    const prices = {
      upstreamModel: model.upstreamModel,
      upstreamInputPer1M: model.inputPer1M,
      upstreamOutputPer1M: model.outputPer1M,
      sellInputPer1M: sellPrice(model.inputPer1M, bps),
      sellOutputPer1M: sellPrice(model.outputPer1M, bps),
    };
    await db.modelOffering.upsert({
      where: { modelId_providerId: { modelId: id, providerId: model.providerId } },
      create: { id: `off_${model.providerId}_${id}`, modelId: id, providerId: model.providerId, ...prices },
      update: prices,
    });
  }
  for (const [index, pack] of SEED_PACKS.entries()) {
    await db.pack.upsert({ where: { id: pack.id }, create: { ...pack, sortOrder: index }, update: {} });
  }
  return { providers: SEED_PROVIDERS.length, models: models.length, packs: SEED_PACKS.length };
}
