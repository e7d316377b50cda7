import { randomFillSync } from 'node:crypto';
import { nowMs } from './clock';

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
  | 'rdm'
  | 'pool'
  | 'po'
  | 'evt'
  | 'grt';

/**
 * `prefix_` + 8 base62 characters of the time in milliseconds + 12 random ones (71 bits). Ids made
 * later sort later (the alphabet is in ASCII order and the time part has a fixed width), so every
 * index on an id — or on a key built from one, such as a hold's `hold:req_…` — grows at its right
 * edge: a transaction dirties the same few B-tree pages as its neighbours instead of one random
 * page per index, which is most of what a commit writes on SQLite and PostgreSQL alike. Ids are
 * not secrets (API key secrets are randomBase62 alone).
 */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${timeBase62(nowMs())}${randomBase62(12)}`;
}

function timeBase62(ms: number): string {
  let out = '';
  for (let rest = ms, i = 0; i < 8; i++, rest = Math.floor(rest / 62)) out = BASE62[rest % 62]! + out;
  return out;
}
