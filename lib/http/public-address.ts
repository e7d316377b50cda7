import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where the server may send a request a user chose (a webhook URL): only to the public internet.
 * A URL naming 127.0.0.1, 10.0.0.0/8, the cloud metadata address 169.254.169.254 or an internal
 * host name would otherwise let any user make this server call its own network and read or poke
 * services that trust it (server-side request forgery).
 */

// IANA special-purpose ranges that are not globally reachable (RFC 6890 and its updates).
const BLOCKED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

const BLOCKED_V6: Array<[string, number]> = [
  ['::', 96], // unspecified, loopback, and the deprecated IPv4-compatible ::a.b.c.d
  ['::ffff:0:0', 96], // IPv4-mapped: judged by the IPv4 address inside (mappedV4); blocked if that fails to parse
  ['64:ff9b::', 96], // NAT64: would reach whatever IPv4 address it embeds
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo included)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // old site-local
  ['ff00::', 8], // multicast
];

// Two lists: one BlockList holding both families matches IPv4 addresses against the IPv6 rules
// too (::/96 would block 8.8.8.8).
const blockedV4 = new BlockList();
const blockedV6 = new BlockList();
for (const [address, prefix] of BLOCKED_V4) blockedV4.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of BLOCKED_V6) blockedV6.addSubnet(address, prefix, 'ipv6');

/** An IPv4 address written inside IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`), as its IPv4 form. */
function mappedV4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower) ?? /^::(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return null;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** True when `address` (an IP literal) is on the public internet. */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return !blockedV4.check(bare, 'ipv4');
  if (family === 6) {
    const v4 = mappedV4(bare);
    if (v4) return isIP(v4) === 4 && !blockedV4.check(v4, 'ipv4');
    return !blockedV6.check(bare, 'ipv6');
  }
  return false;
}

export type ResolvedAddress = { address: string; family: 4 | 6 };
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (what a connection would use): every address, so that none slips past the check. */
export const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

export class UnsafeTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeTargetError';
  }
}

/**
 * Resolves `hostname` once and returns the address to connect to. With `allowPrivate` false,
 * refuses when any address it resolves to is not public: a name that answers both a public and a
 * private address must not be a coin toss. The caller connects to exactly the address returned,
 * so a DNS answer that changes between this check and the connection (rebinding) changes nothing.
 */
export async function resolveTarget({ hostname, allowPrivate, resolver = systemResolver }: { hostname: string; allowPrivate: boolean; resolver?: Resolver }): Promise<ResolvedAddress> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(bare);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: bare, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolver(bare);
    } catch {
      throw new UnsafeTargetError(`The host name '${bare}' does not resolve.`);
    }
    if (addresses.length === 0) throw new UnsafeTargetError(`The host name '${bare}' does not resolve.`);
  }
  if (!allowPrivate) {
    const inner = addresses.find((a) => !isPublicAddress(a.address));
    if (inner) {
      // Which internal address a name resolves to is not the caller's to learn (no mapping of internal DNS).
      const what = literal ? `'${bare}' is` : `'${bare}' resolves to`;
      throw new UnsafeTargetError(`${what} a private, loopback, link-local or reserved address; webhooks go to public addresses only.`);
    }
  }
  return addresses[0]!;
}
