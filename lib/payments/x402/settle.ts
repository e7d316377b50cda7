import { BaseError, ContractFunctionRevertedError, RpcRequestError, createWalletClient, getAddress, http, parseSignature, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import { logger } from '../../logger';
import type { X402Config } from './config';
import { TRANSFER_WITH_AUTHORIZATION_ABI, chainOf, onchainReader } from './onchain';
import type { PaymentPayload, RequirementsV1, RequirementsV2 } from './wire';

export type SettleInput = { payment: PaymentPayload; requirements: RequirementsV1 | RequirementsV2 };
export type Settled = { ok: true; transaction: Hex };
/**
 * `pending`: whether the transfer happened is unknown (the transaction may have left, or the
 * facilitator went silent after being asked to settle). The payment is then neither served nor
 * failed: reconcile() asks the chain and credits it, or fails it once it can no longer land.
 */
export type SettleRefused = { ok: false; reason: string; message: string; pending?: true };

export interface Settler {
  readonly mode: 'facilitator' | 'local';
  settle(input: SettleInput): Promise<Settled | SettleRefused>;
}

export { TRANSFER_WITH_AUTHORIZATION_ABI } from './onchain';

/** Signs of another transaction from the same relayer account holding the nonce we were given (another instance's). */
const NONCE_TAKEN = /nonce too low|replacement transaction underpriced|replacement fee too low|nonce has already been used/i;
/** Submissions of one payment at most: each lost race means another instance's transaction got in. */
const MAX_SUBMISSIONS = 8;
/** How far before a settlement began the chain is searched for the transfer of its authorization. */
export const SETTLEMENT_LOOKBACK_MS = 60 * 60 * 1000;

/**
 * Tollgate submits the authorization itself, from a relayer account that pays the gas. The call is
 * simulated first, so a payer short of tokens or an authorization the token refuses is a 402
 * with the token's reason and no transaction.
 *
 * Several instances may share one relayer account. Each process sends one transaction at a time,
 * but across processes two can be handed the same account nonce by the node: the loser's
 * transaction is refused ("nonce too low", "replacement transaction underpriced"), and it signs
 * again with the node's next pending nonce. Only our own transaction's successful receipt, or the
 * chain's record of this very transfer, counts as settled; when the outcome cannot be known (the
 * RPC went silent after the transaction may have left), the refusal is `pending` and reconcile()
 * decides later from the chain.
 */
export function localSettler(config: X402Config, options: { receiptTimeoutMs?: number } = {}): Settler {
  const account = privateKeyToAccount(config.relayerPrivateKey!);
  const onchain = onchainReader({ ...config, rpcUrl: config.rpcUrl! });
  const publicClient = onchain.client;
  // No transport retries on this client: a transaction resent after a lost reply would be refused
  // "nonce too low", which must mean another instance's transaction and nothing else.
  const walletClient = createWalletClient({ chain: chainOf(config), account, transport: http(config.rpcUrl!, { retryCount: 0 }) });
  // One submission at a time within this process: its own transactions never race for a nonce.
  let queue: Promise<unknown> = Promise.resolve();

  async function submit({ payment }: SettleInput): Promise<Settled | SettleRefused> {
    const auth = payment.authorization;
    const { r, s, v, yParity } = parseSignature(payment.signature);
    const args = [getAddress(auth.from), getAddress(auth.to), auth.value, auth.validAfter, auth.validBefore, auth.nonce as Hex, Number(v ?? BigInt(yParity + 27)), r, s] as const;
    const authorization = { from: getAddress(auth.from), to: getAddress(auth.to), value: auth.value, nonce: auth.nonce as Hex };
    const notBefore = new Date(Date.now() - SETTLEMENT_LOOKBACK_MS);
    for (let attempt = 1; ; attempt++) {
      let request;
      try {
        ({ request } = await publicClient.simulateContract({ account, address: config.asset, abi: TRANSFER_WITH_AUTHORIZATION_ABI, functionName: 'transferWithAuthorization', args }));
      } catch (error) {
        const why = revertReason(error);
        if (why === null) {
          // Every transaction of ours so far was refused or reverted, so nothing of this payment moved.
          logger.error('x402 local settlement could not simulate', { error });
          return { ok: false, reason: 'unexpected_settle_error', message: 'The chain could not be reached to settle the payment.' };
        }
        if (/authorization is used|used or canceled|nonce/i.test(why)) {
          // Used already, by anyone (the payer may submit it too): paid if the chain shows this very
          // transfer, failed if it shows the authorization used for another transfer or canceled.
          // If it shows neither, the RPC's logs may lag its state: the payment stays open for reconcile().
          let lookup;
          try {
            lookup = await onchain.lookupSettlement(authorization, notBefore);
          } catch (error) {
            logger.error('x402 settlement lookup failed; reconcile() will look again', { error });
            return pending();
          }
          if (lookup.kind === 'settled') return { ok: true, transaction: lookup.transaction };
          if (lookup.kind === 'used-elsewhere') return { ok: false, reason: 'invalid_exact_evm_nonce_already_used', message: 'This authorization was used on chain for another transfer.' };
          if (lookup.kind === 'canceled') return { ok: false, reason: 'invalid_exact_evm_nonce_already_used', message: 'This authorization was canceled on chain.' };
          return { ok: false, pending: true, reason: 'invalid_exact_evm_nonce_already_used', message: `The token refused the authorization: ${why}.` };
        }
        const reason = /balance/i.test(why) ? 'insufficient_funds' : 'invalid_exact_evm_transaction_simulation_failed';
        return { ok: false, reason, message: `The token refused the authorization: ${why}.` };
      }

      let hash: Hex;
      try {
        hash = await walletClient.writeContract(request);
      } catch (error) {
        const refusedByNode = error instanceof BaseError && error.walk((e) => e instanceof RpcRequestError) !== null;
        if (refusedByNode && attempt < MAX_SUBMISSIONS && NONCE_TAKEN.test(errorText(error))) {
          // Another instance's transaction took the nonce: sign again with the next one, after a
          // short random pause so that the instances do not collide again in step.
          await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40 * attempt));
          continue;
        }
        if (refusedByNode) {
          logger.error('x402 settlement transaction refused by the node', { error });
          return { ok: false, reason: 'unexpected_settle_error', message: 'The chain refused the settlement transaction.' };
        }
        logger.error('x402 settlement transaction may have been sent; reconcile() will look for it', { error });
        return pending();
      }

      let receipt;
      try {
        receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: options.receiptTimeoutMs ?? 120_000 });
      } catch (error) {
        logger.error('x402 settlement transaction sent but not seen mined; reconcile() will look for it', { transaction: hash, error });
        return pending();
      }
      // viem answers a replaced transaction with its replacement's receipt: only ours counts.
      if (receipt.transactionHash === hash && receipt.status === 'success') return { ok: true, transaction: hash };
      logger.warn('x402 settlement transaction reverted or replaced', { transaction: hash, status: receipt.status, minedHash: receipt.transactionHash });
      if (attempt >= MAX_SUBMISSIONS) return { ok: false, reason: 'invalid_transaction_state', message: `The settlement transaction ${hash} did not complete.` };
      // Moved nothing: simulate again, and the token says why (or that it has since been used).
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

function pending(): SettleRefused {
  return { ok: false, pending: true, reason: 'unexpected_settle_error', message: 'The settlement was sent but not confirmed.' };
}

/** The token's revert reason, or null when the call failed for any other reason (the RPC). */
function revertReason(error: unknown): string | null {
  const revert = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : null;
  if (!(revert instanceof ContractFunctionRevertedError)) return null;
  return revert.reason ?? revert.shortMessage;
}

function errorText(error: BaseError): string {
  const parts: string[] = [];
  error.walk((e) => {
    parts.push(e instanceof BaseError ? `${e.shortMessage} ${e.details}` : String((e as Error).message));
    return false;
  });
  return parts.join(' ');
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
        const hash = settled.transaction && /^0x[0-9a-fA-F]{64}$/.test(settled.transaction) ? (settled.transaction as Hex) : null;
        if (settled.success && !hash) {
          logger.error('x402 facilitator reported a settlement without its transaction', { step });
          return { ...pending(), message: 'The payment facilitator did not name the settlement transaction.' };
        }
        if (!settled.success || !hash) {
          const reason = settled.errorReason ?? 'unexpected_settle_error';
          return { ok: false, reason, message: `The facilitator could not settle the payment: ${settled.errorMessage ?? reason}.` };
        }
        return { ok: true, transaction: hash };
      } catch (error) {
        // Before /settle nothing can have moved (a warning); after, the money may have (an error).
        (step === '/verify' ? logger.warn : logger.error)('x402 facilitator call failed', { step, error });
        if (step === '/verify') return { ok: false, reason: 'unexpected_verify_error', message: 'The payment facilitator could not be reached.' };
        // Asked to settle and no clear answer (a 5xx, a timeout, garbage): the transfer may have happened.
        return { ...pending(), message: 'The payment facilitator did not confirm the settlement.' };
      }
    },
  };
}
