import { createPublicClient, defineChain, getAddress, http, isAddressEqual, parseEventLogs, type Address, type Chain, type Hex, type PublicClient, type Transport } from 'viem';
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

/** EIP-3009's and ERC-20's events, as USDC (FiatTokenV2) emits them: AuthorizationUsed, then Transfer. */
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
 * What the chain says of one authorization, every part read at one block (`block`): whether the
 * token has marked it used or canceled, and the transaction that carried out this very
 * authorization (its AuthorizationUsed event followed by the Transfer of exactly `value` from
 * `from` to `to`), or null if the logs up to that block show none.
 *
 * The state flag alone proves nothing: an authorization can be canceled, and a payer can sign two
 * authorizations with one nonce and use the other. Nor does "used, and no transfer in the logs"
 * prove it was used elsewhere: an RPC's log index can lag its state, so the caller gives the logs
 * time before concluding anything (see reconcile()).
 */
export type SettlementLookup = { block: { number: bigint; timestamp: bigint }; used: boolean; transaction: Hex | null };

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
    const used = await authorizationState(authorization.from, authorization.nonce, block.number);
    if (!used) return { block, used, transaction: null };
    let to = block.number;
    for (;;) {
      const from = to >= LOG_CHUNK ? to - LOG_CHUNK + 1n : 0n;
      const logs = await client.getContractEvents({
        address: config.asset,
        abi: EVENTS_ABI,
        eventName: 'AuthorizationUsed',
        args: { authorizer: getAddress(authorization.from), nonce: authorization.nonce },
        fromBlock: from,
        toBlock: to,
      });
      for (const log of logs) {
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
        if (receipt.status === 'success' && paid) return { block, used, transaction: log.transactionHash };
      }
      if (logs.length > 0 || from === 0n) return { block, used, transaction: null };
      const first = await client.getBlock({ blockNumber: from });
      if (Number(first.timestamp) * 1000 < notBefore.getTime()) return { block, used, transaction: null };
      to = from - 1n;
    }
  }

  return { client, authorizationState, lookupSettlement };
}
