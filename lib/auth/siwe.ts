import { getAddress, isAddress, verifyMessage, type Hex } from 'viem';
import { generateSiweNonce, parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import type { Db } from '../db/client';
import type { Env } from './env';

export const SIWE_NONCE_TTL_MS = 5 * 60_000;

export type SiweFailure = 'malformed_message' | 'domain_mismatch' | 'message_expired' | 'invalid_signature' | 'invalid_nonce';

export class SiweError extends Error {
  constructor(
    readonly code: SiweFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SiweError';
  }
}

/** A fresh single-use nonce for one Sign-In with Ethereum message. */
export async function issueSiweNonce({ db, now = new Date(), ttlMs = SIWE_NONCE_TTL_MS }: { db: Db; now?: Date; ttlMs?: number }) {
  const nonce = generateSiweNonce();
  const expiresAt = new Date(now.getTime() + ttlMs);
  await db.siweNonce.create({ data: { nonce, expiresAt }, select: { nonce: true } });
  // Spent and stale nonces are kept for an hour (for diagnosis), then swept here, cheaply.
  if (Math.random() < 0.05) await db.siweNonce.deleteMany({ where: { expiresAt: { lt: new Date(now.getTime() - 3_600_000) } } });
  return { nonce, expiresAt };
}

/**
 * Checks a signed SIWE message: our domain, a valid time window, an EOA signature by the address
 * in the message, and a nonce we issued that is unused and unexpired (spent here, atomically).
 * Returns the checksummed address. The signature authenticates only; it authorizes nothing else.
 */
export async function verifySiwe({ db, message, signature, domain, now = new Date() }: { db: Db; message: string; signature: string; domain: string; now?: Date }): Promise<`0x${string}`> {
  const parsed = parseSiweMessage(message);
  if (!parsed.address || !isAddress(parsed.address) || !parsed.nonce || !parsed.domain || !parsed.uri || parsed.version !== '1') {
    throw new SiweError('malformed_message', 'The sign-in message is not a valid Sign-In with Ethereum message.');
  }
  if (parsed.domain !== domain) throw new SiweError('domain_mismatch', `The message was made for ${parsed.domain}, not ${domain}.`);
  if (!validateSiweMessage({ message: parsed, domain, time: now })) throw new SiweError('message_expired', 'The sign-in message has expired or is not valid yet.');
  if (!/^0x[0-9a-fA-F]+$/.test(signature)) throw new SiweError('invalid_signature', 'The signature is not hex.');
  let valid = false;
  try {
    valid = await verifyMessage({ address: parsed.address, message, signature: signature as Hex });
  } catch {
    valid = false;
  }
  if (!valid) throw new SiweError('invalid_signature', 'The signature does not match the address in the message.');
  const { count } = await db.siweNonce.updateMany({ where: { nonce: parsed.nonce, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } });
  if (count !== 1) throw new SiweError('invalid_nonce', 'The sign-in nonce is unknown, expired or already used; request a new one.');
  return getAddress(parsed.address);
}

/**
 * The domain SIWE messages must name: NEXTAUTH_URL's host when it is set (pin it in production),
 * otherwise the host this request reached, as next-auth itself trusts it.
 */
export function expectedSiweDomain(headers: Headers | Record<string, string | string[] | undefined>, env: Env = process.env): string {
  const configured = env.NEXTAUTH_URL?.trim();
  if (configured) return new URL(configured).host;
  const get = (name: string) => (headers instanceof Headers ? headers.get(name) : ([headers[name]].flat()[0] ?? null));
  return (get('x-forwarded-host') ?? get('host') ?? '').split(',')[0]!.trim();
}
