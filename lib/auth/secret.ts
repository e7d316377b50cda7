import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { logger } from '../logger';
import type { Env } from './env';

const globalForSecret = globalThis as unknown as { tollgateAuthSecret?: string };

/**
 * The key that signs and encrypts session cookies. NEXTAUTH_SECRET (or AUTH_SECRET) when set;
 * otherwise one generated once into data/.auth-secret (git-ignored), so `npm run app` needs no
 * configuration and sessions survive restarts. Several instances behind one load balancer must
 * share NEXTAUTH_SECRET instead.
 */
export function resolveAuthSecret(env: Env = process.env, file = join(process.cwd(), 'data', '.auth-secret')): string {
  const configured = env.NEXTAUTH_SECRET?.trim() || env.AUTH_SECRET?.trim();
  if (configured) return configured;
  if (globalForSecret.tollgateAuthSecret) return globalForSecret.tollgateAuthSecret;
  let secret = existsSync(/*turbopackIgnore: true*/ file) ? readFileSync(/*turbopackIgnore: true*/ file, 'utf8').trim() : '';
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    mkdirSync(/*turbopackIgnore: true*/ dirname(file), { recursive: true });
    // 'wx': when two processes race to create it, the second one reads the first one's secret.
    try {
      writeFileSync(/*turbopackIgnore: true*/ file, `${secret}\n`, { flag: 'wx', mode: 0o600 });
      chmodSync(/*turbopackIgnore: true*/ file, 0o600);
      const log = env.NODE_ENV === 'production' ? logger.warn : logger.info;
      log('NEXTAUTH_SECRET is not set: generated a session secret for this instance', { file });
    } catch {
      secret = readFileSync(/*turbopackIgnore: true*/ file, 'utf8').trim();
    }
  }
  globalForSecret.tollgateAuthSecret = secret;
  return secret;
}
