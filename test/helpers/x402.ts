// x402 test helpers: a gateway with pay-per-request behind a real HTTP server (the official client
// packages need one), hand-made payments for the refusal cases, and a tiny fake facilitator that
// verifies and settles on the local chain the way an x402 facilitator does.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  http,
  isAddressEqual,
  parseSignature,
  recoverTypedDataAddress,
  toHex,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Db } from '../../lib/db/client';
import { createGateway } from '../../lib/gateway/gateway';
import { createX402, encodeHeader, TRANSFER_WITH_AUTHORIZATION_ABI, TRANSFER_WITH_AUTHORIZATION_TYPES, type Settler } from '../../lib/payments/x402';
import { createNodeServer } from '../../lib/server/node-server';

/** The gateway (with x402 as its pay-per-request) and the probe route, on a random port. */
export async function startX402Gateway({ db, env, settler }: { db: Db; env: NodeJS.ProcessEnv; settler?: Settler }) {
  const x402 = createX402({ db, env, settler });
  const gateway = createGateway({ db, env, payPerRequest: x402 });
  const server = createNodeServer((request) => (new URL(request.url).pathname === '/api/x402/probe' ? x402.probe(request) : gateway.handle(request)), gateway.handleApi);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    x402,
    gateway,
    close: async () => {
      await gateway.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

export type X402Gateway = Awaited<ReturnType<typeof startX402Gateway>>;

export type Domain = { name: string; version: string; chainId: number; verifyingContract: Address };

export type AuthorizationInput = { to: Address; value: bigint; validAfter?: bigint; validBefore?: bigint; nonce?: Hex };

/** An EIP-3009 TransferWithAuthorization signed by `account`, as x402 clients sign it. */
export async function signAuthorization(account: LocalAccount, domain: Domain, input: AuthorizationInput) {
  const now = BigInt(Math.floor(Date.now() / 1000));
  const authorization = {
    from: account.address,
    to: getAddress(input.to),
    value: input.value,
    validAfter: input.validAfter ?? now - 600n,
    validBefore: input.validBefore ?? now + 300n,
    nonce: input.nonce ?? toHex(crypto.getRandomValues(new Uint8Array(32))),
  };
  const signature = await account.signTypedData({ domain, types: TRANSFER_WITH_AUTHORIZATION_TYPES, primaryType: 'TransferWithAuthorization', message: authorization });
  return { authorization, signature };
}

type Signed = Awaited<ReturnType<typeof signAuthorization>>;

const stringify = (signed: Signed) => ({
  signature: signed.signature,
  authorization: Object.fromEntries(Object.entries(signed.authorization).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])),
});

/** The `X-PAYMENT` header value of a v1 payment. */
export function v1PaymentHeader(network: string, signed: Signed): string {
  return encodeHeader({ x402Version: 1, scheme: 'exact', network, payload: stringify(signed) });
}

/** The `PAYMENT-SIGNATURE` header value of a v2 payment, with the requirements it accepted. */
export function v2PaymentHeader(accepted: { network: string; asset: string; payTo: string; amount: string; extra?: unknown }, signed: Signed): string {
  return encodeHeader({
    x402Version: 2,
    resource: { url: 'http://example.test/v1/chat/completions' },
    accepted: { scheme: 'exact', maxTimeoutSeconds: 300, ...accepted },
    payload: stringify(signed),
  });
}

export type FacilitatorCall = { path: string; body: { x402Version: number; paymentPayload: Record<string, unknown>; paymentRequirements: Record<string, unknown> } };

/**
 * A facilitator with the x402 facilitator API (`POST /verify`, `POST /settle`) that checks the
 * signature itself and settles with its own account on the local chain.
 */
/**
 * How the fake facilitator's `/settle` misbehaves: `error` answers 500 without settling; `refuse`
 * answers `success: false` without settling; `lost-reply` settles on chain, then answers 500 as a
 * facilitator that crashed before replying would.
 */
export type FacilitatorFault = 'error' | 'refuse' | 'lost-reply' | null;

export async function startFakeFacilitator({ rpcUrl, chainId, privateKey, domain }: { rpcUrl: string; chainId: number; privateKey: Hex; domain: Domain }) {
  const chain = defineChain({ id: chainId, name: 'facilitator chain', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const account = privateKeyToAccount(privateKey);
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 50 });
  const walletClient = createWalletClient({ chain, account, transport: http(rpcUrl), pollingInterval: 50 });
  const calls: FacilitatorCall[] = [];
  const state = { fault: null as FacilitatorFault };

  const recover = async (body: FacilitatorCall['body']) => {
    const payload = body.paymentPayload.payload as { signature: Hex; authorization: Record<string, string> };
    const a = payload.authorization;
    const message = { from: a.from as Address, to: a.to as Address, value: BigInt(a.value!), validAfter: BigInt(a.validAfter!), validBefore: BigInt(a.validBefore!), nonce: a.nonce as Hex };
    const signer = await recoverTypedDataAddress({ domain, types: TRANSFER_WITH_AUTHORIZATION_TYPES, primaryType: 'TransferWithAuthorization', message, signature: payload.signature });
    return { message, signature: payload.signature, valid: isAddressEqual(signer, message.from) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FacilitatorCall['body'];
    calls.push({ path: req.url ?? '', body });
    const send = (value: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const { message, signature, valid } = await recover(body);
    if (req.url === '/verify') return send(valid ? { isValid: true, payer: message.from } : { isValid: false, invalidReason: 'invalid_exact_evm_payload_signature', payer: message.from });
    if (req.url === '/settle') {
      if (state.fault === 'error') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      if (state.fault === 'refuse') return send({ success: false, errorReason: 'unexpected_settle_error', errorMessage: 'settlement queue full', transaction: '', network: body.paymentRequirements.network });
      if (!valid) return send({ success: false, errorReason: 'invalid_exact_evm_payload_signature', transaction: '', network: body.paymentRequirements.network });
      const { r, s, v } = parseSignature(signature);
      try {
        const hash = await walletClient.writeContract({
          address: domain.verifyingContract,
          abi: TRANSFER_WITH_AUTHORIZATION_ABI,
          functionName: 'transferWithAuthorization',
          args: [message.from, message.to, message.value, message.validAfter, message.validBefore, message.nonce, Number(v), r, s],
        });
        const receipt = await publicClient.waitForTransactionReceipt({ hash });
        if (state.fault === 'lost-reply') return void res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
        return send({ success: receipt.status === 'success', transaction: hash, network: body.paymentRequirements.network, payer: message.from });
      } catch (error) {
        return send({ success: false, errorReason: 'invalid_transaction_state', errorMessage: (error as Error).message.split('\n')[0], transaction: '', network: body.paymentRequirements.network });
      }
    }
    res.writeHead(404).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    /** The fault `/settle` shows from now on (null: none). */
    setFault: (fault: FacilitatorFault) => {
      state.fault = fault;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A JSON-RPC proxy in front of the chain that can lose the node's answers: the methods named in
 * `dropReplies` reach the node and take effect, but their caller's connection is cut before the
 * answer, as when an RPC provider or the network fails at that moment. The methods in `answers`
 * never reach the node: the proxy answers them itself, as a load-balanced RPC's lagging node would
 * (logs not yet indexed, a block number from behind).
 */
export async function startRpcProxy(target: string) {
  const dropReplies = new Set<string>();
  const dropped: string[] = [];
  const answers = new Map<string, () => unknown>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const single = JSON.parse(body.toString('utf8')) as { id?: unknown; method?: string };
      const own = !Array.isArray(single) && single.method ? answers.get(single.method) : undefined;
      if (own) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: single.id, result: own() }));
      const methods = ([] as { method?: string }[]).concat(JSON.parse(body.toString('utf8')) as { method?: string }).map((call) => call.method ?? '');
      void fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        .then(async (answer) => {
          const text = await answer.text();
          const lost = methods.find((method) => dropReplies.has(method));
          if (lost) {
            dropped.push(lost);
            res.destroy();
            return;
          }
          res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropReplies,
    answers,
    /** Methods whose answers were lost, in order. */
    dropped,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
