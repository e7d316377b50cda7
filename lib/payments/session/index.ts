// Pay-per-token sessions (issue #15): the MPP "session" intent over the "evm" method — wire formats,
// vouchers, the escrow's ABI and channel ids, the server's open and voucher decisions (verify.ts),
// the channels' ledger side (channels.ts), the gateway's payment step (sessions.ts) and a client
// for the openai SDK's fetch option (client.ts).
export { SESSION_ESCROW_ABI, computeChannelId } from './escrow';
export { signVoucher, verifyVoucher, voucherDigest, voucherDomain, VOUCHER_TYPES, VOUCHER_DOMAIN_NAME, VOUCHER_DOMAIN_VERSION, UINT128_MAX, type Voucher, type VoucherContext, type VoucherCheck } from './voucher';
export * from './wire';
export { readChannel, decideVoucher, verifyOpen, problemDetails, SESSION_PROBLEMS, type ChannelState, type VoucherDecision, type OpenVerification, type SessionProblemType, type Refusal } from './verify';
