/**
 * The bench starts Tollgate with the command `npm start` runs, read from package.json
 * (bench/support/start-command.ts), so that a flag added to the start script is measured too and a
 * start script the bench cannot reproduce exactly is refused rather than measured wrong.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { npmStartCommand } from '../bench/support/start-command';

const dirs: string[] = [];

function withStart(start: string | undefined, hooks: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-start-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', scripts: start === undefined ? { build: 'next build' } : { ...hooks, start } }));
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('npmStartCommand', () => {
  it('splits the environment it sets from the arguments node gets, flags included', () => {
    const dir = withStart('NODE_ENV=production  TZ=UTC node --max-semi-space-size=64 --import tsx scripts/server.ts');
    expect(npmStartCommand(dir)).toEqual({
      env: { NODE_ENV: 'production', TZ: 'UTC' },
      args: ['--max-semi-space-size=64', '--import', 'tsx', 'scripts/server.ts'],
    });
  });

  it('reads this project’s start script: the server scripts/server.ts, in production', () => {
    const command = npmStartCommand(process.cwd());
    expect(command.env.NODE_ENV).toBe('production');
    expect(command.args.slice(-3)).toEqual(['--import', 'tsx', 'scripts/server.ts']);
    // What keeps its memory flat under load (README, Production): V8's old generation grows to 1.2
    // times what the last full collection kept, not up to four times.
    expect(command.args).toContain('--heap-growing-percent=20');
  });

  it.each([
    ['a chain of commands', 'npm run db:setup && node scripts/server.ts', /more than one plain node command/],
    ['a shell expansion', 'node $FLAGS scripts/server.ts', /more than one plain node command/],
    ['quoted words', "NODE_OPTIONS='--max-old-space-size=512' node scripts/server.ts", /more than one plain node command/],
    ['a comment', 'node scripts/server.ts # --inspect', /more than one plain node command/],
    ['a glob', 'node --import tsx scripts/*.ts', /more than one plain node command/],
    ['a second line', 'node scripts/server.ts\nnode scripts/other.ts', /more than one plain node command/],
    ['another program', 'NODE_ENV=production tsx scripts/server.ts', /does not run node/],
  ])('refuses %s', (_, start, message) => {
    expect(() => npmStartCommand(withStart(start))).toThrow(message);
  });

  it.each(['prestart', 'poststart'])('refuses a start script with a %s script around it, which the bench would not run', (hook) => {
    expect(() => npmStartCommand(withStart('node scripts/server.ts', { [hook]: 'npm run db:setup' }))).toThrow(new RegExp(`a ${hook} script`));
  });

  it('refuses a package.json without a start script', () => {
    expect(() => npmStartCommand(withStart(undefined))).toThrow(/no start script/);
  });
});
