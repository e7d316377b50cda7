import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

// Debian's Chromium: Playwright's own browser download cannot run on these machines.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  throw new Error(`Chromium not found at ${executablePath}. Install it (apt-get install -y chromium) or set CHROMIUM_PATH.`);
}

const port = Number(process.env.E2E_PORT ?? 3100);

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  timeout: 60_000,
  fullyParallel: false,
  workers: 1,
  reporter: process.env.CI ? [['list']] : [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
    screenshot: 'only-on-failure',
    trace: 'off',
  },
  webServer: {
    // Builds the app (unless E2E_SKIP_BUILD=1), prepares a throwaway database, runs the app's server.
    // Through node's --import, not the tsx CLI: the CLI is a second process that relays signals and
    // SIGKILLs a child that has not acknowledged one within 60 ms (one busy migrating, say), which
    // would leave the database behind.
    command: 'node --import tsx e2e/serve.ts',
    url: `http://127.0.0.1:${port}/health`,
    timeout: 480_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    // Without it Playwright SIGKILLs the server's process group, and e2e/serve.ts never drops its
    // throwaway database (on PostgreSQL one `tollgate_e2e_suite_*` database was left behind a run).
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    env: { E2E_PORT: String(port) },
  },
});
