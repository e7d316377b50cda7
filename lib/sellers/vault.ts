import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { logger } from '../logger';

/**
 * Sellers' provider keys at rest: AES-256-GCM under a master key from the environment.
 *
 * SELLER_KEY_SECRET is the current master key: 32 random bytes written as 64 hex characters or
 * as base64 / base64url (`openssl rand -hex 32`). SELLER_KEY_SECRET_PREVIOUS (optional,
 * comma-separated, same format) are older master keys still accepted for decryption, so a key
 * can be rotated without downtime: the new one encrypts, the old ones only decrypt until every
 * pool has been re-encrypted (lib/sellers/rotate.ts).
 *
 * A sealed key is `v1:<keyId>:<iv>:<tag>:<ciphertext>` (base64url parts): keyId is the first 8 hex
 * of SHA-256 of the master key that sealed it, iv 12 random bytes, tag GCM's 16. The associated
 * data binds it to its pool's id, so a blob copied into another row does not open there.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export type VaultErrorCode = 'not_configured' | 'bad_secret' | 'unknown_key' | 'malformed' | 'tampered';

/** Never carries a plaintext or a master key: only what went wrong. */
export class VaultError extends Error {
  readonly code: VaultErrorCode;
  constructor(code: VaultErrorCode, message: string) {
    super(message);
    this.name = 'VaultError';
    this.code = code;
  }
}

type MasterKey = { id: string; key: Buffer };

export type Vault = {
  /** The id of the master key new blobs are sealed with. */
  readonly currentKeyId: string;
  encryptSecret(args: { plaintext: string; poolId: string }): string;
  decryptSecret(args: { blob: string; poolId: string }): string;
  /** The same secret sealed under the current master key; the blob unchanged when it already is. */
  reencrypt(args: { blob: string; poolId: string }): string;
  /** The master key id a blob was sealed with, read from its header. */
  keyIdOf(blob: string): string;
};

type Env = Record<string, string | undefined>;

export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** 64 hex characters, or base64 / base64url of exactly 32 bytes; anything else is refused. */
export function parseMasterKey(text: string, name: string): Buffer {
  const value = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(value) ? Buffer.from(value, 'base64') : null;
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new VaultError('bad_secret', `${name} must be 32 bytes written as 64 hex characters or base64 (e.g. \`openssl rand -hex 32\`).`);
  }
  return bytes;
}

/**
 * What a vault's blobs are for. The associated data names it, so a blob sealed for one use
 * (a seller's provider key) does not open as another (a webhook signing secret), even under the
 * same master key and with a row id that happens to match.
 */
export type VaultPurpose = 'seller-pool' | 'credit-alert';

const aad = (purpose: VaultPurpose, keyId: string, poolId: string) => Buffer.from(`tollgate:${purpose}:${VERSION}:${keyId}:${poolId}`, 'utf8');

/** A vault over explicit master keys: `current` seals, `previous` (and current) open. */
export function createVault({ current, previous = [], purpose = 'seller-pool' }: { current: Buffer; previous?: Buffer[]; purpose?: VaultPurpose }): Vault {
  const currentKey: MasterKey = { id: masterKeyId(current), key: current };
  const keys = new Map<string, MasterKey>();
  for (const key of [current, ...previous]) keys.set(masterKeyId(key), { id: masterKeyId(key), key });

  const encryptSecret = ({ plaintext, poolId }: { plaintext: string; poolId: string }): string => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', currentKey.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(purpose, currentKey.id, poolId));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, currentKey.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join(':');
  };

  const parse = (blob: string) => {
    const parts = blob.split(':');
    if (parts.length !== 5 || parts[0] !== VERSION || !/^[0-9a-f]{8}$/.test(parts[1]!)) throw new VaultError('malformed', 'Not a sealed seller key.');
    const [, keyId, iv, tag, ciphertext] = parts as [string, string, string, string, string];
    const decode = (part: string) => (/^[A-Za-z0-9_-]*$/.test(part) ? Buffer.from(part, 'base64url') : null);
    const ivBytes = decode(iv);
    const tagBytes = decode(tag);
    const bytes = decode(ciphertext);
    if (!ivBytes || ivBytes.length !== IV_BYTES || !tagBytes || tagBytes.length !== TAG_BYTES || !bytes) throw new VaultError('malformed', 'Not a sealed seller key.');
    return { keyId, iv: ivBytes, tag: tagBytes, ciphertext: bytes };
  };

  const decryptSecret = ({ blob, poolId }: { blob: string; poolId: string }): string => {
    const sealed = parse(blob);
    const master = keys.get(sealed.keyId);
    if (!master) {
      throw new VaultError('unknown_key', `Sealed with master key ${sealed.keyId}, which is neither SELLER_KEY_SECRET nor in SELLER_KEY_SECRET_PREVIOUS.`);
    }
    const decipher = createDecipheriv('aes-256-gcm', master.key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(purpose, sealed.keyId, poolId));
    decipher.setAuthTag(sealed.tag);
    try {
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // GCM's check failed: the blob was altered, or belongs to another pool.
      throw new VaultError('tampered', 'The sealed seller key failed its integrity check.');
    }
  };

  return {
    currentKeyId: currentKey.id,
    encryptSecret,
    decryptSecret,
    reencrypt: ({ blob, poolId }) => {
      const plaintext = decryptSecret({ blob, poolId });
      return parse(blob).keyId === currentKey.id ? blob : encryptSecret({ plaintext, poolId });
    },
    keyIdOf: (blob) => parse(blob).keyId,
  };
}

export const DEV_SECRET_FILE = join(process.cwd(), 'data', '.seller-key-secret');

/**
 * The vault from the environment. Without SELLER_KEY_SECRET: in production selling is off (a
 * VaultError 'not_configured', which the API answers as 503), because a key generated on one
 * instance's disk would make every other instance unable to open the pools and would be lost
 * with the disk; in development and tests a key is generated once into data/.seller-key-secret
 * (0600, git-ignored), as lib/auth/secret.ts does for NEXTAUTH_SECRET.
 */
export function vaultFromEnv(env: Env = process.env, file = DEV_SECRET_FILE, purpose: VaultPurpose = 'seller-pool'): Vault {
  const configured = env.SELLER_KEY_SECRET?.trim();
  const previous = (env.SELLER_KEY_SECRET_PREVIOUS ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part, i) => parseMasterKey(part, `SELLER_KEY_SECRET_PREVIOUS[${i}]`));
  if (configured) return createVault({ current: parseMasterKey(configured, 'SELLER_KEY_SECRET'), previous, purpose });
  if (env.NODE_ENV === 'production') {
    throw new VaultError('not_configured', 'Selling is off: SELLER_KEY_SECRET is not set (32 bytes as hex or base64, e.g. `openssl rand -hex 32`).');
  }
  return createVault({ current: developmentKey(file), previous, purpose });
}

function developmentKey(file: string): Buffer {
  if (existsSync(/*turbopackIgnore: true*/ file)) return parseMasterKey(readFileSync(/*turbopackIgnore: true*/ file, 'utf8'), file);
  mkdirSync(/*turbopackIgnore: true*/ dirname(file), { recursive: true });
  const generated = randomBytes(KEY_BYTES).toString('hex');
  try {
    // 'wx': when two processes race to create it, the second one reads the first one's key.
    writeFileSync(/*turbopackIgnore: true*/ file, `${generated}\n`, { flag: 'wx', mode: 0o600 });
    chmodSync(/*turbopackIgnore: true*/ file, 0o600);
    logger.info('SELLER_KEY_SECRET is not set: generated a development master key for seller keys', { file });
    return Buffer.from(generated, 'hex');
  } catch {
    return parseMasterKey(readFileSync(/*turbopackIgnore: true*/ file, 'utf8'), file);
  }
}
