// The browser suite's server (e2e/serve.ts) makes a throwaway database before it starts the app.
// Playwright may stop it at any moment, so a stop while that database is being made must still
// remove it, and exit 0 as a stop does.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tollgate-serve-stop-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('e2e/serve.ts, stopped while it makes its database', () => {
  it('removes the throwaway database and exits 0', async () => {
    // Its own temporary directory (TMPDIR), where its database is the one tollgate-e2e-suite-* entry.
    // As playwright.config.ts starts it, in a process group of its own, which is signalled as
    // Playwright signals it: the whole group.
    const child = spawn(process.execPath, ['--import', 'tsx', 'e2e/serve.ts'], {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, TMPDIR: scratch, E2E_SKIP_BUILD: '1', E2E_PORT: String(await freePort()), TEST_DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone
      }
    };
    try {
      // Signalled as soon as its database directory appears: before the app, while it migrates.
      const deadline = Date.now() + 60_000;
      const databases = () => readdirSync(scratch).filter((name) => name.startsWith('tollgate-e2e-suite-'));
      while (databases().length === 0) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no database was made:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      signalGroup('SIGTERM');
      const code = await exited;
      expect(code, output).toBe(0);
      expect(databases(), output).toEqual([]);
      expect(output).not.toContain('tollgate listening');
    } finally {
      // Whatever failed above, nothing of it outlives the test.
      signalGroup('SIGKILL');
    }
  }, 90_000);
});
