import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform base62 string from the CSPRNG (rejection sampling keeps it unbiased). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
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
