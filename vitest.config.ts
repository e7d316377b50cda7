import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  resolve: { alias: { '@': fileURLToPath(new URL('.', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Expected failures (failover, refused calls) log warnings; keep the run readable.
    env: { LOG_LEVEL: 'error' },
    // Every file gets its own database cloned from a migrated, seeded template (test/helpers/db.ts).
    fileParallelism: true,
  },
});
