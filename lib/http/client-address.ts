import type { ApiRequest } from './api-request';
import { BlockList, isIP } from 'node:net';
import { logger } from '../logger';

/**
 * Who is calling, for rate limits, grant caps and the development mailbox: the socket's address,
 * never a header a client can write. Tollgate's own servers (scripts/server.ts, the lean gateway
 * server) copy the socket address into PEER_HEADER after deleting any value the client sent, and
 * mark the process as doing so; a route handler cannot read the socket itself.
 *
 * Behind proxies the operator names them in TRUSTED_PROXIES, as a hop count ("1": one proxy in
 * front) or as addresses and CIDRs ("10.0.0.0/8, 127.0.0.1"); then X-Forwarded-For is read from
 * the right, skipping the trusted hops, so an entry the client prepended is never the answer.
 */
export const PEER_HEADER = 'x-tollgate-peer';

const globalForPeer = globalThis as unknown as { tollgatePeerHeaderTrusted?: boolean; tollgateUnstampedWarned?: boolean };

/** Called by a server that overwrites PEER_HEADER from the socket on every request. */
export function trustPeerHeader(): void {
  globalForPeer.tollgatePeerHeaderTrusted = true;
}

/** Sets PEER_HEADER on an incoming Node request from its socket, replacing anything the client sent. */
export function stampPeer(headers: Record<string, string | string[] | undefined>, socketAddress: string | undefined): void {
  delete headers[PEER_HEADER];
  if (socketAddress) headers[PEER_HEADER] = normalizeAddress(socketAddress);
}

export type TrustedProxies = { kind: 'none' } | { kind: 'hops'; hops: number } | { kind: 'list'; list: BlockList; text: string };

/** TRUSTED_PROXIES, parsed once per distinct value. An invalid value trusts nothing, loudly. */
export function trustedProxies(env: Record<string, string | undefined> = process.env): TrustedProxies {
  const raw = env.TRUSTED_PROXIES?.trim() ?? '';
  const cached = parsed.get(raw);
  if (cached) return cached;
  const result = parseTrustedProxies(raw);
  parsed.set(raw, result);
  return result;
}

const parsed = new Map<string, TrustedProxies>();

export function parseTrustedProxies(raw: string): TrustedProxies {
  if (!raw || raw === '0' || raw.toLowerCase() === 'none') return { kind: 'none' };
  if (/^\d+$/.test(raw)) return { kind: 'hops', hops: Math.min(Number(raw), 10) };
  const list = new BlockList();
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address ?? '');
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    if (!family || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
      logger.error('TRUSTED_PROXIES is not a hop count or a list of addresses/CIDRs; trusting no proxy', { entry });
      return { kind: 'none' };
    }
    list.addSubnet(address!, bits, family === 6 ? 'ipv6' : 'ipv4');
  }
  return { kind: 'list', list, text: raw };
}

/** The socket address our server stamped, or null when this process's server does not stamp it. */
export function peerAddress(request: ApiRequest): string | null {
  if (!globalForPeer.tollgatePeerHeaderTrusted) {
    if (!globalForPeer.tollgateUnstampedWarned) {
      globalForPeer.tollgateUnstampedWarned = true;
      logger.warn('requests are not stamped with the socket address (the app was not started by `npm start`): per-address limits treat every client as one');
    }
    return null;
  }
  return request.headers.get(PEER_HEADER) || null;
}

/**
 * The client's address: the socket's, or, when it is a trusted proxy, the nearest untrusted hop
 * of X-Forwarded-For. Null when unknown (a server that does not stamp the peer).
 */
export function clientAddress(request: ApiRequest, proxies: TrustedProxies = trustedProxies()): string | null {
  const peer = peerAddress(request);
  if (!peer || proxies.kind === 'none') return peer;
  const forwarded = (request.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((hop) => normalizeAddress(hop.trim()))
    .filter((hop) => isIP(hop) !== 0);
  const chain = [...forwarded, peer];
  if (proxies.kind === 'hops') {
    // n proxies in front: the peer is the last of them, and each one appended the hop before it.
    return chain[Math.max(0, chain.length - 1 - proxies.hops)]!;
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    if (!trusts(proxies.list, chain[i]!)) return chain[i]!;
  }
  return chain[0]!;
}

/**
 * True only for a caller on this machine by the socket, and never for a request that came through
 * a proxy: a reverse proxy on the same host connects from 127.0.0.1 but reports the real client in
 * X-Forwarded-For (Next fills that header with the socket's own address when it is absent, so a
 * loopback entry there is no sign of a proxy), Forwarded or X-Real-IP.
 */
export function isLoopbackClient(request: ApiRequest): boolean {
  const peer = peerAddress(request);
  if (!peer || !isLoopback(peer)) return false;
  if (request.headers.has('forwarded') || request.headers.has('x-real-ip')) return false;
  const hops = (request.headers.get('x-forwarded-for') ?? '').split(',').map((hop) => normalizeAddress(hop.trim())).filter(Boolean);
  return hops.every(isLoopback);
}

export function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address);
}

function trusts(list: BlockList, address: string): boolean {
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so the same client has one spelling. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
