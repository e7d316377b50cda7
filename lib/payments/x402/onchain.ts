import { createPublicClient, defineChain, formatLog, getAddress, http, isAddressEqual, numberToHex, pad, parseEventLogs, toEventSelector, type Address, type Chain, type Hex, type PublicClient, type Transport } from 'viem';
import type { X402Config } from './config';

/** EIP-3009 `transferWithAuthorization`, the (v, r, s) form every USDC deployment has. */
export const TRANSFER_WITH_AUTHORIZATION_ABI = [
  {
    type: 'function',
    name: 'transferWithAuthorization',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      { name: 'nonce', type: 'bytes32' },
      { name: 'v', type: 'uint8' },
      { name: 'r', type: 'bytes32' },
      { name: 's', type: 'bytes32' },
    ],
    outputs: [],
  },
  {
    type: 'function',
    name: 'authorizationState',
    stateMutability: 'view',
    inputs: [
      { name: 'authorizer', type: 'address' },
      { name: 'nonce', type: 'bytes32' },
    ],
    outputs: [{ type: 'bool' }],
  },
] as const;

/** EIP-3009's and ERC-20's events, as USDC (FiatTokenV2) emits them: AuthorizationUsed, then Transfer; or AuthorizationCanceled. */
const EVENTS_ABI = [
  {
    type: 'event',
    name: 'AuthorizationUsed',
    inputs: [
      { name: 'authorizer', type: 'address', indexed: true },
      { name: 'nonce', type: 'bytes32', indexed: true },
    ],
  },
  {
    type: 'event',
    name: 'AuthorizationCanceled',
    inputs: [
      { name: 'authorizer', type: 'address', indexed: true },
      { name: 'nonce', type: 'bytes32', indexed: true },
    ],
  },
  {
    type: 'event',
    name: 'Transfer',
    inputs: [
      { name: 'from', type: 'address', indexed: true },
      { name: 'to', type: 'address', indexed: true },
      { name: 'value', type: 'uint256', indexed: false },
    ],
  },
] as const;

/** Blocks per log query: public RPCs refuse wide ranges. */
const LOG_CHUNK = 2_000n;

export type Authorization = { from: Address; to: Address; value: bigint; nonce: Hex };

/**
 * What the chain says of one authorization, every part read at one block (`block`):
 * - `settled`: the transaction that carried out this very authorization (its AuthorizationUsed
 *   event followed by the Transfer of exactly `value` from `from` to `to`);
 * - `used-elsewhere`: its AuthorizationUsed event is there, but that transaction did not pay this
 *   transfer (a payer can sign two authorizations with one nonce and use the other);
 * - `canceled`: its AuthorizationCanceled event is there;
 * - `no-log`: the token marks it used or canceled, but the logs searched show neither event. This
 *   proves nothing: an RPC's log index can lag its state (some load-balanced RPCs answer [] rather
 *   than an error), so the caller keeps looking (see reconcile());
 * - `unused`: the token does not mark it used: it may still land.
 */
export type SettlementLookup = { block: { number: bigint; timestamp: bigint } } & (
  | { kind: 'settled' | 'used-elsewhere' | 'canceled'; transaction: Hex }
  | { kind: 'no-log' | 'unused' }
);

export type Onchain = {
  readonly client: PublicClient<Transport, Chain>;
  /** Whether the token has marked this (payer, nonce) used or canceled (as of `blockNumber`, or now): once true, it can never move money again. */
  authorizationState(payer: Address, nonce: Hex, blockNumber?: bigint): Promise<boolean>;
  /** The state and the logs of this authorization at the latest block, searched no further back than `notBefore`. */
  lookupSettlement(authorization: Authorization, notBefore: Date): Promise<SettlementLookup>;
};

export function chainOf(config: X402Config): Chain {
  return defineChain({
    id: config.chainId,
    name: `x402 ${config.network}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl!] } },
  });
}

/** Reads what the chain says of x402 authorizations; needs X402_RPC_URL. */
export function onchainReader(config: X402Config & { rpcUrl: string }): Onchain {
  const client = createPublicClient({ chain: chainOf(config), transport: http(config.rpcUrl) }) as PublicClient<Transport, Chain>;

  const authorizationState = (payer: Address, nonce: Hex, blockNumber?: bigint) =>
    client.readContract({ address: config.asset, abi: TRANSFER_WITH_AUTHORIZATION_ABI, functionName: 'authorizationState', args: [getAddress(payer), nonce], blockNumber });

  async function lookupSettlement(authorization: Authorization, notBefore: Date): Promise<SettlementLookup> {
    // One block for the state and the logs alike: behind a load balancer, a second "latest" can
    // come from a node further behind, whose logs do not yet hold the transfer the state reflects.
    const latest = await client.getBlock({ blockTag: 'latest' });
    const block = { number: latest.number, timestamp: latest.timestamp };
    if (!(await authorizationState(authorization.from, authorization.nonce, block.number))) return { block, kind: 'unused' };
    // Either event of this (authorizer, nonce), in one query: the token emits exactly one of them.
    const topics = [[toEventSelector(EVENTS_ABI[0]), toEventSelector(EVENTS_ABI[1])], pad(getAddress(authorization.from)), authorization.nonce];
    let to = block.number;
    for (;;) {
      const from = to >= LOG_CHUNK ? to - LOG_CHUNK + 1n : 0n;
      const raw = await client.request({ method: 'eth_getLogs', params: [{ address: config.asset, fromBlock: numberToHex(from), toBlock: numberToHex(to), topics }] });
      const logs = parseEventLogs({ abi: EVENTS_ABI, logs: raw.map((log) => formatLog(log)) }).filter((log) => !log.removed);
      let found: SettlementLookup | null = null;
      for (const log of logs) {
        if (log.eventName === 'AuthorizationCanceled') {
          found ??= { block, kind: 'canceled', transaction: log.transactionHash };
          continue;
        }
        if (log.eventName !== 'AuthorizationUsed') continue;
        const receipt = await client.getTransactionReceipt({ hash: log.transactionHash });
        const transfers = parseEventLogs({ abi: EVENTS_ABI, eventName: 'Transfer', logs: receipt.logs });
        const paid = transfers.some(
          (t) =>
            isAddressEqual(t.address, config.asset) &&
            t.logIndex === log.logIndex + 1 &&
            isAddressEqual(t.args.from, authorization.from) &&
            isAddressEqual(t.args.to, authorization.to) &&
            t.args.value === authorization.value,
        );
        if (receipt.status === 'success' && paid) return { block, kind: 'settled', transaction: log.transactionHash };
        found ??= { block, kind: 'used-elsewhere', transaction: log.transactionHash };
      }
      if (found) return found;
      if (from === 0n) return { block, kind: 'no-log' };
      const first = await client.getBlock({ blockNumber: from });
      if (Number(first.timestamp) * 1000 < notBefore.getTime()) return { block, kind: 'no-log' };
      to = from - 1n;
    }
  }

  return { client, authorizationState, lookupSettlement };
}
