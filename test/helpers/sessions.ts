// A gateway that takes pay-per-token sessions (and x402 beside them when configured), on its own
// port, for tests on the local chain; and the raw wire steps a test drives by hand.
import { keccak256, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem';
import type { Db } from '../../lib/db/client';
import { combineKeyless } from '../../lib/payments/keyless';
import { SESSION_ESCROW_ABI, computeChannelId } from '../../lib/payments/session/escrow';
import { createSessions } from '../../lib/payments/session/sessions';
import { signVoucher } from '../../lib/payments/session/voucher';
import { buildSessionCredential, didPkh, parseSessionChallenge, type SessionChallenge } from '../../lib/payments/session/wire';
import { createX402 } from '../../lib/payments/x402';
import { testStablecoinAbi, type DeployedStablecoin, type TestChain } from './chain';
import { startTestGateway } from './gateway';

export async function startSessionGateway({ db, env, x402 = false }: { db: Db; env: NodeJS.ProcessEnv; x402?: boolean }) {
  const sessions = createSessions({ db, env });
  const gateway = await startTestGateway({ db, env, payPerRequest: combineKeyless(x402 ? createX402({ db, env }) : null, sessions) });
  return { ...gateway, sessions };
}
export type SessionGateway = Awaited<ReturnType<typeof startSessionGateway>>;

let saltCounter = 0;

/** A channel the payer opened on chain, and the credentials a client would send for it. */
export async function openChannel(chain: TestChain, token: DeployedStablecoin, challenge: SessionChallenge, payer: PrivateKeyAccount, deposit: bigint) {
  const escrow = challenge.request.methodDetails.escrowContract;
  const payee = challenge.request.recipient;
  const salt = keccak256(toHex(`sessions-test-${process.pid}-${++saltCounter}`));
  const wallet = chain.walletClient(payer);
  await chain.publicClient.waitForTransactionReceipt({ hash: await wallet.writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, deposit] }) });
  const hash = await wallet.writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'open', args: [payee, token.address, deposit, salt, '0x0000000000000000000000000000000000000000'] });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error('open reverted');
  const context = { chainId: challenge.request.methodDetails.chainId, escrowContract: escrow };
  const channelId = computeChannelId({ payer: payer.address, payee, token: token.address, salt, authorizedSigner: '0x0000000000000000000000000000000000000000', escrowContract: escrow, chainId: context.chainId });
  const sign = (cumulativeAmount: bigint, signer: PrivateKeyAccount = payer) => signVoucher(signer, context, { channelId, cumulativeAmount });
  return {
    channelId,
    hash,
    salt,
    sign,
    open: async (cumulativeAmount: bigint) =>
      buildSessionCredential({ challenge, source: didPkh(context.chainId, payer.address), payload: { action: 'open', type: 'hash', channelId, hash, cumulativeAmount: String(cumulativeAmount), signature: await sign(cumulativeAmount), salt } }),
    voucher: async (cumulativeAmount: bigint, signer?: PrivateKeyAccount, id: Hex = channelId) =>
      buildSessionCredential({ challenge, payload: { action: 'voucher', channelId: id, cumulativeAmount: String(cumulativeAmount), signature: await sign(cumulativeAmount, signer) } }),
    close: async (cumulativeAmount: bigint) =>
      buildSessionCredential({ challenge, payload: { action: 'close', channelId, cumulativeAmount: String(cumulativeAmount), signature: await sign(cumulativeAmount) } }),
  };
}

/** The session challenge a keyless call to `url` is answered with, and the amount its 402 asks a new channel to cover. */
export async function sessionChallenge(url: string, body: unknown): Promise<{ challenge: SessionChallenge; required: bigint; response: Response }> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await response.clone().json()) as { requiredCumulative: string };
  return { challenge: parseSessionChallenge(response.headers.get('www-authenticate') ?? ''), required: BigInt(json.requiredCumulative), response };
}

export const ZERO_ADDRESS: Address = '0x0000000000000000000000000000000000000000';
export type { Hex };
