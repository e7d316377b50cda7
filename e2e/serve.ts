// The app as the README's run command brings it up, on a throwaway database: SQLite by default,
// a fresh PostgreSQL database when TEST_DATABASE_URL names a server. Started by Playwright.
import { spawn, spawnSync } from 'node:child_process';
import { createDb } from '../lib/db/client';
import { applyMigrations } from '../lib/db/migrate';
import { seed } from '../lib/db/seed';
import { freshDatabase } from './app-instance';
import { E2E_ADMIN_EMAIL, E2E_ADMIN_TOKEN } from './constants';

const port = process.env.E2E_PORT ?? '3100';
const cleanups: Array<() => Promise<void> | void> = [];

/** Removes what was made (the throwaway database), once, in reverse order. */
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await Promise.resolve()
      .then(cleanup)
      .catch((error: unknown) => console.error('e2e/serve.ts: could not clean up', error));
  }
}

// Playwright may stop the suite while the database is still being made: a signal then is noted
// and acted on after the step in flight (whose database is then known), not left to kill the
// process with the database behind it. Once the app runs, `onSignal` stops it first.
let signalled = false;
let onSignal = () => {
  if (!signalled) {
    signalled = true;
    return;
  }
  // A second signal: the step in flight may be stuck (a database server that does not answer).
  // Leave now, removing what can be removed within a second.
  void Promise.race([cleanUp(), new Promise((resolve) => setTimeout(resolve, 1_000))]).finally(() => process.exit(1));
};
process.on('SIGTERM', () => onSignal());
process.on('SIGINT', () => onSignal());

async function exitIfSignalled(): Promise<void> {
  if (!signalled) return;
  await cleanUp();
  process.exit(0);
}

async function main() {
  if (process.env.E2E_SKIP_BUILD !== '1') {
    // The local development chain (31337) goes into the browser's wallet configuration, so the
    // deposit spec pays with one click from its injected wallet; that wallet answers every RPC call
    // itself, so the URL here is never dialled.
    const build = spawnSync('node_modules/.bin/next', ['build'], {
      stdio: 'inherit',
      env: { NEXT_PUBLIC_DEV_CHAIN_RPC_URL: 'http://127.0.0.1:8545', ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    });
    if (build.status !== 0) {
      // The suite's signal reaches the build too: that is a stop, not a failed build. spawnSync held
      // the event loop, so the signal's handler runs only on a turn after it: one is let pass first.
      await new Promise((resolve) => setImmediate(resolve));
      await exitIfSignalled();
      throw new Error('next build failed');
    }
  }
  await exitIfSignalled();
  const config = await freshDatabase('suite', cleanups);
  await exitIfSignalled();
  await applyMigrations(config);
  await exitIfSignalled();
  const db = createDb(config);
  await seed(db);
  await db.$disconnect();
  await exitIfSignalled();

  // The same server `npm start` runs (scripts/server.ts), so the socket's address reaches the app.
  // Every browser of the suite signs up from 127.0.0.1: the welcome credit's per-address daily cap
  // (3 by default) is raised so that each new account of the suite still gets it.
  const app = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts'], {
    stdio: 'inherit',
    env: {
      WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '1000',
      ...process.env,
      NODE_ENV: 'production',
      PORT: port,
      HOST: '127.0.0.1',
      DATABASE_URL: config.url,
      ADMIN_TOKEN: E2E_ADMIN_TOKEN,
      ADMIN_EMAILS: E2E_ADMIN_EMAIL,
      LOCAL_MODEL_TOKEN_DELAY_MS: '5',
      NEXT_TELEMETRY_DISABLED: '1',
    },
  });
  // Playwright stops the suite with SIGTERM to the whole process group (playwright.config.ts), so
  // the app hears it too, and may exit before or after this process does. Either way the app is let
  // finish (it commits on its way out) before its database goes, and the cleanup runs once. Stopped
  // by a signal, this process exits 0; an app that exits by itself is a failure, with its code.
  const exited = new Promise<number>((resolve) => app.once('exit', (code) => resolve(code ?? 1)));
  let stopping: Promise<void> | null = null;
  const stop = (bySignal: boolean) => {
    stopping ??= (async () => {
      // The group's signal reached the app as well: it is signalled again only if it has not gone
      // within two seconds.
      const code = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(resolve, 2_000, null))]).then((early) => {
        if (early !== null) return early;
        app.kill('SIGTERM');
        return exited;
      });
      await cleanUp();
      process.exit(bySignal ? 0 : code);
    })();
  };
  onSignal = () => stop(true);
  void exited.then(() => stop(false));
}

main().catch(async (error: unknown) => {
  console.error(error);
  await cleanUp();
  process.exit(1);
});
