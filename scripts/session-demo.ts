// A pay-per-token session with no account and no API key: opens a USDC channel, streams one chat
// completion through the official openai client, closes the channel and prints what it cost.
//   SESSION_RPC_URL=http://127.0.0.1:8545 PAYER_PRIVATE_KEY=0x… npx tsx scripts/session-demo.ts
// Env: TOLLGATE_URL (default http://localhost:3000/v1), DEPOSIT_USD (default 1), MODEL, PROMPT.
import { pathToFileURL } from 'node:url';
import OpenAI from 'openai';
import { createPublicClient, createWalletClient, defineChain, formatUnits, http, parseUnits, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createSessionClient } from '../lib/payments/session/client';

// The session token is USDC-like: 6 decimals, one atomic unit = one micro-USD.
const TOKEN_DECIMALS = 6;

export type SessionDemoResult = { text: string; channelId: Hex; deposit: bigint; spent: bigint; closeTxHash: Hex | null };

export async function runSessionDemo(input: {
  baseURL: string;
  rpcUrl: string;
  privateKey: Hex;
  /** Atomic token units. */
  deposit: bigint;
  model: string;
  prompt: string;
}): Promise<SessionDemoResult> {
  const publicClient = createPublicClient({ transport: http(input.rpcUrl) });
  const chainId = await publicClient.getChainId();
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [input.rpcUrl] } },
  });
  const account = privateKeyToAccount(input.privateKey);
  const walletClient = createWalletClient({ account, chain, transport: http(input.rpcUrl) });
  const session = createSessionClient({ account, walletClient, publicClient, deposit: input.deposit });

  // apiKey is required by the SDK; the session fetch removes it and pays instead.
  const openai = new OpenAI({ apiKey: 'session', baseURL: input.baseURL, fetch: session.fetch });
  const stream = await openai.chat.completions.create({ model: input.model, messages: [{ role: 'user', content: input.prompt }], stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';

  const channelId = session.channelId;
  if (!channelId) throw new Error('the request went through without opening a session channel (did the server ask for payment?)');
  const receipt = await session.close();
  return { text, channelId, deposit: input.deposit, spent: BigInt(receipt.spent), closeTxHash: receipt.txHash ?? null };
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

async function main() {
  const privateKey = requireEnv('PAYER_PRIVATE_KEY');
  if (!/^0x[0-9a-fA-F]{64}$/.test(privateKey)) throw new Error('PAYER_PRIVATE_KEY must be a 0x-prefixed 32-byte hex key');
  const result = await runSessionDemo({
    baseURL: process.env.TOLLGATE_URL ?? 'http://localhost:3000/v1',
    rpcUrl: requireEnv('SESSION_RPC_URL'),
    privateKey: privateKey as Hex,
    deposit: parseUnits(process.env.DEPOSIT_USD ?? '1', TOKEN_DECIMALS),
    model: process.env.MODEL ?? 'tollgate-local',
    prompt: process.env.PROMPT ?? 'Say hello in five words.',
  });
  const usd = (atomic: bigint) => `$${formatUnits(atomic, TOKEN_DECIMALS)}`;
  console.log(result.text);
  console.log('');
  console.log(`channel   ${result.channelId}`);
  console.log(`deposit   ${usd(result.deposit)}`);
  console.log(`spent     ${usd(result.spent)}`);
  console.log(`refund    ${usd(result.deposit - result.spent)}`);
  console.log(`close tx  ${result.closeTxHash ?? '(none reported)'}`);
}

// Run only when executed (`npx tsx scripts/session-demo.ts`), not when a test imports runSessionDemo.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
