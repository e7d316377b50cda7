// Creates (or reuses) a user, grants it credit and prints a new API key — the quickstart's way to
// a working key before the web app's sign-in exists, and an operator's tool afterwards.
//   npm run key:create -- --email you@example.com --credit 10 [--name laptop] [--models tollgate-local,gpt-4o] [--management]
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { getDb } from '../lib/db/client';
import { newId } from '../lib/ids';
import { createApiKeyOp } from '../lib/keys/keys';
import { Ledger, SYSTEM_ACCOUNTS, getOrCreateWalletAccount } from '../lib/ledger';
import { formatUsd, usdToMicros } from '../lib/money';

const args = z
  .object({
    email: z.email(),
    credit: z.string().default('10').transform((v) => usdToMicros(v)),
    name: z.string().min(1).max(100).default('cli'),
    models: z
      .string()
      .optional()
      .transform((v) => (v ? v.split(',').map((m) => m.trim()).filter(Boolean) : null)),
    management: z.boolean().default(false),
  })
  .parse(
    parseArgs({ options: { email: { type: 'string' }, credit: { type: 'string' }, name: { type: 'string' }, models: { type: 'string' }, management: { type: 'boolean' } } })
      .values,
  );

const db = getDb();
const email = args.email.toLowerCase();
const user = (await db.user.findUnique({ where: { email } })) ?? (await db.user.create({ data: { id: newId('usr'), email } }));
const wallet = await getOrCreateWalletAccount({ db, userId: user.id });
if (args.credit > 0n) {
  await new Ledger(db).transfer({
    idempotencyKey: `cli-credit:${newId('txn')}`,
    kind: 'admin_credit',
    memo: 'granted with scripts/create-key.ts',
    actor: 'cli',
    entries: [
      { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -args.credit },
      { accountId: wallet.id, amount: args.credit },
    ],
  });
}
const key = createApiKeyOp(db, { userId: user.id, name: args.name, models: args.models, kind: args.management ? 'MANAGEMENT' : 'INFERENCE' });
await db.$transaction([
  key.op,
  db.auditLog.create({
    data: { id: newId('aud'), actor: 'cli', action: 'key.create', targetType: 'api_key', targetId: key.id, details: JSON.stringify({ userId: user.id, credit_micros: args.credit.toString() }) },
  }),
]);
const balance = await db.ledgerAccount.findUniqueOrThrow({ where: { id: wallet.id }, select: { balance: true } });
console.log(`user     ${user.id} <${email}>`);
console.log(`balance  ${formatUsd(balance.balance)}`);
console.log(`${args.management ? 'mgmt key' : 'key     '} ${key.secret}`);
console.log('(shown once: only its hash is stored)');
await db.$disconnect();
