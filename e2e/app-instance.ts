// An app instance of a spec's own, beside the suite's server: a throwaway database (SQLite, or a
// fresh PostgreSQL database when TEST_DATABASE_URL names a server, as e2e/serve.ts does), migrated
// and seeded, and the server `npm start` runs (scripts/server.ts, so the socket's address reaches
// the app: the development mailbox that signIn reads is for loopback clients only) on the build
// Playwright's web server made, with the spec's env.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb } from '../lib/db/client';
import type { DatabaseConfig } from '../lib/db/config';
import { applyMigrations } from '../lib/db/migrate';
import { seed } from '../lib/db/seed';
import { assertPortFree, waitHealthy } from '../test/helpers/ports';

export type AppInstance = {
  baseURL: string;
  database: DatabaseConfig['provider'];
  /** What the server has printed so far (stdout and stderr): for a spec that waits on its log. */
  output(): string;
  stop(): Promise<void>;
};

/** A throwaway database named after `label`; its removal is pushed onto `cleanups`. */
export async function freshDatabase(label: string, cleanups: Array<() => Promise<void> | void>): Promise<DatabaseConfig> {
  const server = process.env.TEST_DATABASE_URL?.trim();
  if (!server) {
    const dir = mkdtempSync(join(tmpdir(), `tollgate-e2e-${label}-`));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, `${label}.db`);
    return { provider: 'sqlite', url: `file:${file}`, file };
  }
  const name = `tollgate_e2e_${label}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  cleanups.push(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { provider: 'postgresql', url: url.toString() };
}

export async function startAppInstance({ port, label, env, startTimeoutMs = 120_000 }: { port: number; label: string; env: Record<string, string | undefined>; startTimeoutMs?: number }): Promise<AppInstance> {
  await assertPortFree(port);
  const cleanups: Array<() => Promise<void> | void> = [];
  const config = await freshDatabase(label, cleanups);
  await applyMigrations(config);
  const db = createDb(config);
  await seed(db);
  await db.$disconnect();

  // A variable given as undefined is removed, not inherited from the test process.
  const appEnv: NodeJS.ProcessEnv = { ...process.env, ...env, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: config.url, NEXT_TELEMETRY_DISABLED: '1' };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete appEnv[name];
  const app: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts'], { stdio: ['ignore', 'pipe', 'pipe'], env: appEnv });
  let output = '';
  for (const stream of [app.stdout!, app.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      output += text;
      if (process.env.E2E_APP_LOGS === '1') process.stdout.write(text);
    });
  }
  const exited = new Promise<void>((resolve) => app.once('exit', () => resolve()));
  const stop = async () => {
    if (app.exitCode === null) {
      app.kill('SIGTERM');
      await exited;
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  const baseURL = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(baseURL, app, () => `the ${label} app's last output:\n${output.slice(-4_000)}`, startTimeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return { baseURL, database: config.provider, output: () => output, stop };
}
