import { randomFillSync } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// CSPRNG bytes drawn 4 KiB at a time and each used once, as crypto.randomUUID does: a call to the
// generator per id cost more than the rest of making it (a chat completion makes six ids).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomByte(): number {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

/** Uniform base62 string from the CSPRNG (rejection sampling keeps it unbiased). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const byte = randomByte();
    if (byte < 248) out += BASE62[byte % 62];
  }
  return out;
}

export type IdPrefix =
  | 'usr'
  | 'acc'
  | 'txn'
  | 'ent'
  | 'hold'
  | 'key'
  | 'usg'
  | 'dep'
  | 'pk'
  | 'lot'
  | 'off'
  | 'idem'
  | 'wl'
  | 'aud'
  | 'req'
  | 'rdb'
  | 'rdm';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(20)}`;
}
