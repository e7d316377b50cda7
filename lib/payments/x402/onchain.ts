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

export type Onchain = {
  readonly client: PublicClient<Transport, Chain>;
  /** Whether the token has marked this (payer, nonce) used or canceled (as of `blockNumber`, or now): once true, it can never move money again. */
  authorizationState(payer: Address, nonce: Hex, blockNumber?: bigint): Promise<boolean>;
  /**
   * The transaction that carried out this very authorization (its AuthorizationUsed event followed
   * by the Transfer of exactly `value` from `from` to `to`), looked up no further back than
   * `notBefore`; null if the chain shows none. The state flag alone proves nothing: an authorization
   * can be canceled, and a payer can sign two authorizations with one nonce and use the other.
   */
  findSettlement(authorization: Authorization, notBefore: Date): Promise<Hex | null>;
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

  async function findSettlement(authorization: Authorization, notBefore: Date): Promise<Hex | null> {
    if (!(await authorizationState(authorization.from, authorization.nonce))) return null;
    let to = await client.getBlockNumber({ cacheTime: 0 });
    for (;;) {
      const from = to >= LOG_CHUNK ? to - LOG_CHUNK + 1n : 0n;
      const used = await client.getContractEvents({
        address: config.asset,
        abi: EVENTS_ABI,
        eventName: 'AuthorizationUsed',
        args: { authorizer: getAddress(authorization.from), nonce: authorization.nonce },
        fromBlock: from,
        toBlock: to,
      });
      for (const log of used) {
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
        if (receipt.status === 'success' && paid) return log.transactionHash;
      }
      if (used.length > 0 || from === 0n) return null;
      const first = await client.getBlock({ blockNumber: from });
      if (Number(first.timestamp) * 1000 < notBefore.getTime()) return null;
      to = from - 1n;
    }
  }

  return { client, authorizationState, findSettlement };
}
