import { BaseError, ContractFunctionRevertedError, createPublicClient, createWalletClient, defineChain, getAddress, http, parseSignature, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import { logger } from '../../logger';
import type { X402Config } from './config';
import type { PaymentPayload, RequirementsV1, RequirementsV2 } from './wire';

export type SettleInput = { payment: PaymentPayload; requirements: RequirementsV1 | RequirementsV2 };
export type Settled = { ok: true; transaction: Hex };
export type SettleRefused = { ok: false; reason: string; message: string };

export interface Settler {
  readonly mode: 'facilitator' | 'local';
  settle(input: SettleInput): Promise<Settled | SettleRefused>;
}

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

/**
 * Tollgate submits the authorization itself, from a relayer account that pays the gas. The call is
 * simulated first, so a payer short of tokens or an authorization the token refuses is a 402
 * with the token's reason and no transaction.
 */
export function localSettler(config: X402Config, options: { receiptTimeoutMs?: number } = {}): Settler {
  const chain = defineChain({
    id: config.chainId,
    name: `x402 ${config.network}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl!] } },
  });
  const account = privateKeyToAccount(config.relayerPrivateKey!);
  const publicClient = createPublicClient({ chain, transport: http(config.rpcUrl!) });
  const walletClient = createWalletClient({ chain, account, transport: http(config.rpcUrl!) });
  // One submission at a time: the relayer's transaction nonces must not race each other.
  let queue: Promise<unknown> = Promise.resolve();

  async function submit({ payment }: SettleInput): Promise<Settled | SettleRefused> {
    const auth = payment.authorization;
    const { r, s, v, yParity } = parseSignature(payment.signature);
    const args = [getAddress(auth.from), getAddress(auth.to), auth.value, auth.validAfter, auth.validBefore, auth.nonce as Hex, Number(v ?? BigInt(yParity + 27)), r, s] as const;
    try {
      const { request } = await publicClient.simulateContract({ account, address: config.asset, abi: TRANSFER_WITH_AUTHORIZATION_ABI, functionName: 'transferWithAuthorization', args });
      const hash = await walletClient.writeContract(request);
      const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: options.receiptTimeoutMs ?? 120_000 });
      if (receipt.status !== 'success') return { ok: false, reason: 'invalid_transaction_state', message: `The settlement transaction ${hash} reverted.` };
      return { ok: true, transaction: hash };
    } catch (error) {
      const revert = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : null;
      if (revert instanceof ContractFunctionRevertedError) {
        const why = revert.reason ?? revert.shortMessage;
        const reason = /balance/i.test(why) ? 'insufficient_funds' : /nonce|authorization is used|used or canceled/i.test(why) ? 'invalid_exact_evm_nonce_already_used' : 'invalid_exact_evm_transaction_simulation_failed';
        return { ok: false, reason, message: `The token refused the authorization: ${why}.` };
      }
      logger.error('x402 local settlement failed', { error });
      return { ok: false, reason: 'unexpected_settle_error', message: 'Settling the payment on chain did not complete.' };
    }
  }

  return {
    mode: 'local',
    settle(input) {
      const run = queue.then(() => submit(input));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

const verifyResponse = z.object({ isValid: z.boolean(), invalidReason: z.string().nullish(), invalidMessage: z.string().nullish() });
const settleResponse = z.object({ success: z.boolean(), transaction: z.string().nullish(), errorReason: z.string().nullish(), errorMessage: z.string().nullish() });

/** A facilitator's `/verify` then `/settle` (x402 facilitator API), each with the payment as the client sent it. */
export function facilitatorSettler(config: X402Config, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): Settler {
  const doFetch = options.fetch ?? fetch;
  const call = async (path: '/verify' | '/settle', input: SettleInput) => {
    const response = await doFetch(`${config.facilitatorUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ x402Version: input.payment.version, paymentPayload: input.payment.raw, paymentRequirements: input.requirements }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`facilitator ${path} answered ${response.status} without JSON`);
    }
    return body;
  };

  return {
    mode: 'facilitator',
    async settle(input) {
      let step: '/verify' | '/settle' = '/verify';
      try {
        const verified = verifyResponse.parse(await call('/verify', input));
        if (!verified.isValid) {
          const reason = verified.invalidReason ?? 'invalid_payment';
          return { ok: false, reason, message: `The facilitator refused the payment: ${verified.invalidMessage ?? reason}.` };
        }
        step = '/settle';
        const settled = settleResponse.parse(await call('/settle', input));
        if (!settled.success || !settled.transaction || !/^0x[0-9a-fA-F]{64}$/.test(settled.transaction)) {
          const reason = settled.errorReason ?? 'unexpected_settle_error';
          return { ok: false, reason, message: `The facilitator could not settle the payment: ${settled.errorMessage ?? reason}.` };
        }
        return { ok: true, transaction: settled.transaction as Hex };
      } catch (error) {
        // Before /settle nothing can have moved (a warning); after, the money may have (an error).
        (step === '/verify' ? logger.warn : logger.error)('x402 facilitator call failed', { step, error });
        return {
          ok: false,
          reason: step === '/verify' ? 'unexpected_verify_error' : 'unexpected_settle_error',
          message: step === '/verify' ? 'The payment facilitator could not be reached.' : 'The payment facilitator did not confirm the settlement.',
        };
      }
    },
  };
}
