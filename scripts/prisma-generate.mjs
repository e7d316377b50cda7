// Generates the Prisma clients for both databases from prisma/schema.prisma.
//
// Prisma compiles queries per provider, so the SQLite and PostgreSQL clients are generated from
// the same data model with only the provider swapped; their TypeScript types are identical.
// `prisma generate` never runs the native schema engine, but the CLI insists that the engine
// binary exists before it starts. It cannot be downloaded here, so point it at a harmless file.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemaPath = join(root, 'prisma', 'schema.prisma');
const workDir = join(root, 'node_modules', '.tollgate');
mkdirSync(workDir, { recursive: true });

const source = readFileSync(schemaPath, 'utf8');
const variants = {
  sqlite: source,
  postgresql: source
    .replace('provider = "sqlite"', 'provider = "postgresql"')
    .replace('../lib/db/generated/sqlite', '../lib/db/generated/postgresql'),
};
if (!variants.postgresql.includes('generated/postgresql')) {
  throw new Error('prisma/schema.prisma: could not derive the PostgreSQL variant');
}

const prismaCli = join(root, 'node_modules', 'prisma', 'build', 'index.js');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};

for (const [provider, text] of Object.entries(variants)) {
  // Keep the derived schema beside the real one so relative output paths resolve the same way.
  const path = provider === 'sqlite' ? schemaPath : join(root, 'prisma', `.schema.${provider}.prisma`);
  if (path !== schemaPath) writeFileSync(path, text);
  execFileSync(process.execPath, [prismaCli, 'generate', '--schema', path], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  console.log(`prisma client generated for ${provider}`);
}
