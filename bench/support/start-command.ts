// What `npm start` runs, read from package.json rather than copied: the bench measures the server
// users start, Node flags included, and the two cannot drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type StartCommand = { env: Record<string, string>; args: string[] };

/**
 * package.json's `start` script, `NAME=value … node <args…>`, as the environment it sets and the
 * arguments it passes to node. Anything else (a shell operator, another program) is refused, so a
 * start script the bench cannot reproduce exactly fails loudly instead of being measured wrong.
 */
export function npmStartCommand(root: string): StartCommand {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const script = manifest.scripts?.start;
  if (!script) throw new Error('package.json has no start script');
  // npm runs these around `start`: a server started without them would not be the one measured.
  for (const hook of ['prestart', 'poststart']) if (manifest.scripts?.[hook]) throw new Error(`package.json has a ${hook} script, which the bench does not run`);
  // Shell syntax (operators, expansions, quotes, comments, globs, line breaks) would mean more than
  // the words say.
  if (/[|&;<>()$`"'\\#*?[\]~{}\n\r]/.test(script)) throw new Error(`the start script is more than one plain node command: ${script}`);
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  let at = 0;
  for (; at < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[at]!); at++) {
    const word = words[at]!;
    const equals = word.indexOf('=');
    env[word.slice(0, equals)] = word.slice(equals + 1);
  }
  if (words[at] !== 'node') throw new Error(`the start script does not run node: ${script}`);
  return { env, args: words.slice(at + 1) };
}
