import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem';

/**
 * The on-chain side of pay-per-token sessions: contracts/SessionEscrow.sol, the mandatory core of
 * the MPP EVM session escrow (tempoxyz/mpp-specs, specs/methods/evm/draft-evm-session-00.md).
 * The ABI is written out for viem's types; test/session-escrow.test.ts checks it against the compiler's.
 */

const channelStruct = {
  type: 'tuple',
  components: [
    { name: 'payer', type: 'address' },
    { name: 'payee', type: 'address' },
    { name: 'token', type: 'address' },
    { name: 'authorizedSigner', type: 'address' },
    { name: 'deposit', type: 'uint128' },
    { name: 'settled', type: 'uint128' },
    { name: 'closeRequestedAt', type: 'uint64' },
    { name: 'finalized', type: 'bool' },
  ],
} as const;

const voucherArgs = [
  { name: 'channelId', type: 'bytes32' },
  { name: 'cumulativeAmount', type: 'uint128' },
  { name: 'signature', type: 'bytes' },
] as const;

const error = (name: string) => ({ type: 'error', name, inputs: [] }) as const;

export const SESSION_ESCROW_ABI = [
  { type: 'function', name: 'CLOSE_GRACE_PERIOD', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'uint64' }] },
  { type: 'function', name: 'VOUCHER_TYPEHASH', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'bytes32' }] },
  { type: 'function', name: 'getChannel', stateMutability: 'view', inputs: [{ name: 'channelId', type: 'bytes32' }], outputs: [{ name: '', ...channelStruct }] },
  {
    type: 'function',
    name: 'computeChannelId',
    stateMutability: 'view',
    inputs: [
      { name: 'payer', type: 'address' },
      { name: 'payee', type: 'address' },
      { name: 'token', type: 'address' },
      { name: 'salt', type: 'bytes32' },
      { name: 'authorizedSigner', type: 'address' },
    ],
    outputs: [{ name: '', type: 'bytes32' }],
  },
  { type: 'function', name: 'domainSeparator', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'bytes32' }] },
  {
    type: 'function',
    name: 'voucherDigest',
    stateMutability: 'view',
    inputs: [
      { name: 'channelId', type: 'bytes32' },
      { name: 'cumulativeAmount', type: 'uint128' },
    ],
    outputs: [{ name: '', type: 'bytes32' }],
  },
  {
    type: 'function',
    name: 'open',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'payee', type: 'address' },
      { name: 'token', type: 'address' },
      { name: 'deposit', type: 'uint128' },
      { name: 'salt', type: 'bytes32' },
      { name: 'authorizedSigner', type: 'address' },
    ],
    outputs: [{ name: 'channelId', type: 'bytes32' }],
  },
  {
    type: 'function',
    name: 'topUp',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'channelId', type: 'bytes32' },
      { name: 'additionalDeposit', type: 'uint128' },
    ],
    outputs: [],
  },
  { type: 'function', name: 'settle', stateMutability: 'nonpayable', inputs: voucherArgs, outputs: [] },
  { type: 'function', name: 'close', stateMutability: 'nonpayable', inputs: voucherArgs, outputs: [] },
  { type: 'function', name: 'requestClose', stateMutability: 'nonpayable', inputs: [{ name: 'channelId', type: 'bytes32' }], outputs: [] },
  { type: 'function', name: 'withdraw', stateMutability: 'nonpayable', inputs: [{ name: 'channelId', type: 'bytes32' }], outputs: [] },
  {
    type: 'event',
    name: 'ChannelOpened',
    anonymous: false,
    inputs: [
      { name: 'channelId', type: 'bytes32', indexed: true },
      { name: 'payer', type: 'address', indexed: true },
      { name: 'payee', type: 'address', indexed: true },
      { name: 'token', type: 'address', indexed: false },
      { name: 'authorizedSigner', type: 'address', indexed: false },
      { name: 'salt', type: 'bytes32', indexed: false },
      { name: 'deposit', type: 'uint128', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'ChannelToppedUp',
    anonymous: false,
    inputs: [
      { name: 'channelId', type: 'bytes32', indexed: true },
      { name: 'additionalDeposit', type: 'uint128', indexed: false },
      { name: 'newDeposit', type: 'uint128', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'Settled',
    anonymous: false,
    inputs: [
      { name: 'channelId', type: 'bytes32', indexed: true },
      { name: 'cumulativeAmount', type: 'uint128', indexed: false },
      { name: 'paidToPayee', type: 'uint128', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'CloseRequested',
    anonymous: false,
    inputs: [
      { name: 'channelId', type: 'bytes32', indexed: true },
      { name: 'closeRequestedAt', type: 'uint64', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'ChannelClosed',
    anonymous: false,
    inputs: [
      { name: 'channelId', type: 'bytes32', indexed: true },
      { name: 'settled', type: 'uint128', indexed: false },
      { name: 'paidToPayee', type: 'uint128', indexed: false },
      { name: 'refundedToPayer', type: 'uint128', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'Withdrawn',
    anonymous: false,
    inputs: [
      { name: 'channelId', type: 'bytes32', indexed: true },
      { name: 'refundedToPayer', type: 'uint128', indexed: false },
    ],
  },
  error('ChannelAlreadyExists'),
  error('ChannelNotFound'),
  error('ChannelFinalized'),
  error('NotPayee'),
  error('NotPayer'),
  error('InvalidPayee'),
  error('InvalidToken'),
  error('AmountNotIncreasing'),
  error('AmountExceedsDeposit'),
  error('InvalidSignature'),
  error('CloseNotReady'),
  error('ZeroDeposit'),
  error('DepositOverflow'),
  error('TransferFailed'),
] as const;

/**
 * The spec's channel id (Channel State): keccak256(abi.encode(payer, payee, token, salt,
 * authorizedSigner, escrow, chainId)). `authorizedSigner` is the zero address when the payer signs.
 */
export function computeChannelId(input: {
  payer: Address;
  payee: Address;
  token: Address;
  salt: Hex;
  authorizedSigner: Address;
  escrowContract: Address;
  chainId: number;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }],
      [input.payer, input.payee, input.token, input.salt, input.authorizedSigner, input.escrowContract, BigInt(input.chainId)],
    ),
  );
}
