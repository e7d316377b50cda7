import { describe, expect, it } from 'vitest';
import { API_KEY_PREFIX, generateApiKey, hashApiKey, maskKey } from '../lib/keys/secret';

describe('API key secrets', () => {
  it('hashes with SHA-256, hex: the digest stored keys were written with must not change', () => {
    // FIPS 180-2's test vectors.
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashApiKey('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('makes a prefixed secret of 43 base62 characters, shown once, with its hash, prefix and last four', () => {
    const key = generateApiKey();
    expect(key.secret).toMatch(new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{43}$`));
    expect(key.hash).toBe(hashApiKey(key.secret));
    expect(maskKey(key)).toBe(`${key.secret.slice(0, 7)}…${key.secret.slice(-4)}`);
    expect(generateApiKey().secret).not.toBe(key.secret);
  });
});
