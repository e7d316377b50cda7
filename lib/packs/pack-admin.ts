import { z } from 'zod';
import { auditData } from '../audit';
import type { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import { invalidRequest, notFound, parseOrThrow } from '../http/errors';
import { createGuards } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { newId } from '../ids';
import { usdAmount } from '../money-schema';
import { packView } from './packs';

const packFields = {
  name: z.string().trim().min(1, 'is required').max(80),
  description: z.string().trim().max(500),
  price_usd: usdAmount.refine((m) => m > 0n, 'must be more than 0'),
  face_value_usd: usdAmount.refine((m) => m > 0n, 'must be more than 0'),
  validity_days: z.number().int().min(1).max(3_650),
  scope: z.strictObject({ provider: z.string().min(1).nullable().default(null), model: z.string().min(1).nullable().default(null) }),
  active: z.boolean(),
  sort_order: z.number().int().min(0).max(10_000),
};

export const createPackSchema = z
  .strictObject(packFields)
  .partial({ description: true, scope: true, active: true, sort_order: true })
  .refine((p) => p.face_value_usd >= p.price_usd, { message: 'a pack must give at least the credit it costs', path: ['face_value_usd'] });

export const updatePackSchema = z
  .strictObject(packFields)
  .partial()
  .refine((patch) => Object.values(patch).some((v) => v !== undefined), { message: 'send at least one field to change' });

/**
 * The admin side of the pack shop: create packs, change them, take them off sale. Bought lots keep
 * the terms they were bought with (their face value, scope and expiry are copied onto the lot).
 * Every change is audited in the same transaction.
 */
export function createPackAdminApi({ db, catalog, env = process.env }: { db: Db; catalog: CatalogCache; env?: NodeJS.ProcessEnv }) {
  const guard = createGuards({ db, env }).admin;

  const checkScope = async (scope: { provider: string | null; model: string | null } | undefined) => {
    if (!scope) return;
    const current = await catalog.get();
    if (scope.model && !current.byId.has(scope.model)) throw invalidRequest(`Unknown model '${scope.model}'.`, 'scope.model');
    if (scope.provider && !current.models.some((m) => m.offerings.some((o) => o.providerId === scope.provider))) {
      throw invalidRequest(`Unknown provider '${scope.provider}'.`, 'scope.provider');
    }
  };

  // GET /api/admin/packs — every pack, on sale or not.
  const list = guard(async () => {
    const packs = await db.pack.findMany({ orderBy: [{ sortOrder: 'asc' }, { price: 'asc' }] });
    return json({ object: 'list', data: packs.map((p) => ({ ...packView(p), active: p.active, sort_order: p.sortOrder })) });
  });

  // POST /api/admin/packs
  const create = guard(async ({ request, actor }) => {
    const input = parseOrThrow(createPackSchema, await readJsonBody(request));
    await checkScope(input.scope);
    const id = newId('pk');
    const data = {
      id,
      name: input.name,
      description: input.description ?? '',
      price: input.price_usd,
      faceValue: input.face_value_usd,
      validityDays: input.validity_days,
      scopeProviderId: input.scope?.provider ?? null,
      scopeModelId: input.scope?.model ?? null,
      active: input.active ?? true,
      sortOrder: input.sort_order ?? 100,
    };
    const [pack] = await db.$transaction([
      db.pack.create({ data }),
      db.auditLog.create({ data: auditData({ actor, action: 'pack.create', targetType: 'pack', targetId: id, details: data }), select: { id: true } }),
    ]);
    return json({ ...packView(pack), active: pack.active, sort_order: pack.sortOrder }, { status: 201 });
  });

  // PATCH /api/admin/packs/:id
  const update = guard(async ({ request, params, actor }) => {
    const patch = parseOrThrow(updatePackSchema, await readJsonBody(request));
    await checkScope(patch.scope);
    const current = await db.pack.findUnique({ where: { id: params.id! } });
    if (!current) throw notFound('pack_not_found', `No pack with id '${params.id}'.`);
    const price = patch.price_usd ?? current.price;
    const faceValue = patch.face_value_usd ?? current.faceValue;
    if (faceValue < price) throw invalidRequest('A pack must give at least the credit it costs.', 'face_value_usd');
    const data = {
      name: patch.name,
      description: patch.description,
      price: patch.price_usd,
      faceValue: patch.face_value_usd,
      validityDays: patch.validity_days,
      scopeProviderId: patch.scope ? patch.scope.provider : undefined,
      scopeModelId: patch.scope ? patch.scope.model : undefined,
      active: patch.active,
      sortOrder: patch.sort_order,
    };
    const [pack] = await db.$transaction([
      db.pack.update({ where: { id: current.id }, data }),
      db.auditLog.create({ data: auditData({ actor, action: 'pack.update', targetType: 'pack', targetId: current.id, details: data }), select: { id: true } }),
    ]);
    return json({ ...packView(pack), active: pack.active, sort_order: pack.sortOrder });
  });

  return { list, create, update };
}

export type PackAdminApi = ReturnType<typeof createPackAdminApi>;
