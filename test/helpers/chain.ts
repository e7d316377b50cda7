// A real local EVM chain for tests: a `hardhat node` (Hardhat 2, chain 31337) in a child process,
// contracts compiled in-process with solc-js (the compiler bundled in the installed `solc` package,
// never a download) and deployed with viem. Automine is on; `mine(n)` adds blocks for confirmations.
import { freePort } from './ports';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  http,
  numberToHex,
  toHex,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PrivateKeyAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { TRANSFER_WITH_AUTHORIZATION_ABI } from '../../lib/payments/x402/settle';
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from '../../lib/payments/x402/verify';
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONTRACTS_DIR = join(ROOT, 'test', 'contracts');
// The product's own contracts (the session escrow), compiled beside the test-only ones.
const PRODUCT_CONTRACTS_DIR = join(ROOT, 'contracts');
const HARDHAT_CONFIG = join(ROOT, 'test', 'chain', 'hardhat.config.cjs');
const HARDHAT_BIN = join(ROOT, 'node_modules', '.bin', 'hardhat');

/** Hardhat's default development mnemonic: its accounts and keys are public knowledge. */
export const HARDHAT_MNEMONIC = 'test test test test test test test test test test test junk';
export const TEST_CHAIN_ID = 31337;
const ACCOUNT_COUNT = 10;

type A = PrivateKeyAccount;
/** Hardhat's first ten development accounts, by index. */
export type TestAccounts = readonly [A, A, A, A, A, A, A, A, A, A];

export type CompiledContract = { abi: Abi; bytecode: Hex };

export type StablecoinOptions = {
  name: string;
  symbol: string;
  /** EIP-712 domain version (USDC uses "2"). */
  version: string;
  /** EIP-712 domain name; defaults to `name` (USDC's is "USD Coin"). */
  domainName?: string;
};

export type DeployedStablecoin = {
  address: Address;
  abi: typeof testStablecoinAbi;
  name: string;
  symbol: string;
  /** The EIP-712 domain, ready for viem's signTypedData. */
  domain: { name: string; version: string; chainId: number; verifyingContract: Address };
  mint(to: Address, amount: bigint): Promise<Hex>;
  balanceOf(owner: Address): Promise<bigint>;
  /** An ERC-20 transfer from `from` (mined: automine); returns the tx hash. */
  transfer(from: Account, to: Address, amount: bigint): Promise<Hex>;
};

export type TestChain = {
  rpcUrl: string;
  chainId: number;
  chain: Chain;
  /** The node's funded accounts (10,000 ETH each), from the well-known development keys. */
  accounts: TestAccounts;
  privateKeys: Hex[];
  publicClient: PublicClient<Transport, Chain>;
  walletClient(account: Account): WalletClient<Transport, Chain, Account>;
  /** Deploys a compiled contract (by name from test/contracts or contracts, or an artifact); returns its address. */
  deploy(contract: string | CompiledContract, args?: readonly unknown[], from?: Account): Promise<Address>;
  deployStablecoin(options: StablecoinOptions): Promise<DeployedStablecoin>;
  /** Mines `blocks` empty blocks at once (confirmations for whatever is already mined). */
  mine(blocks?: number): Promise<void>;
  /** Turns automine off (transactions wait in the mempool until `mine`) or back on. */
  setAutomine(enabled: boolean): Promise<void>;
  /** Moves the chain's clock forward and mines a block with the new timestamp. */
  increaseTime(seconds: number): Promise<void>;
  blockNumber(): Promise<bigint>;
  stop(): Promise<void>;
};

/** The ABI of test/contracts/TestStablecoin.sol, typed for viem (the compiled ABI is checked against it in test/chain.test.ts). */
export const testStablecoinAbi = [
  { type: 'function', name: 'name', stateMutability: 'view', inputs: [], outputs: [{ type: 'string' }] },
  { type: 'function', name: 'symbol', stateMutability: 'view', inputs: [], outputs: [{ type: 'string' }] },
  { type: 'function', name: 'decimals', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint8' }] },
  { type: 'function', name: 'version', stateMutability: 'view', inputs: [], outputs: [{ type: 'string' }] },
  { type: 'function', name: 'totalSupply', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint256' }] },
  { type: 'function', name: 'balanceOf', stateMutability: 'view', inputs: [{ name: 'owner', type: 'address' }], outputs: [{ type: 'uint256' }] },
  {
    type: 'function',
    name: 'allowance',
    stateMutability: 'view',
    inputs: [
      { name: 'owner', type: 'address' },
      { name: 'spender', type: 'address' },
    ],
    outputs: [{ type: 'uint256' }],
  },
  {
    type: 'function',
    name: 'transfer',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
    ],
    outputs: [{ type: 'bool' }],
  },
  {
    type: 'function',
    name: 'approve',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'spender', type: 'address' },
      { name: 'value', type: 'uint256' },
    ],
    outputs: [{ type: 'bool' }],
  },
  {
    type: 'function',
    name: 'transferFrom',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
    ],
    outputs: [{ type: 'bool' }],
  },
  {
    type: 'function',
    name: 'mint',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
    ],
    outputs: [],
  },
  { type: 'function', name: 'DOMAIN_SEPARATOR', stateMutability: 'view', inputs: [], outputs: [{ type: 'bytes32' }] },
  // EIP-3009 as the gateway calls it: (v, r, s) transferWithAuthorization and authorizationState.
  ...TRANSFER_WITH_AUTHORIZATION_ABI,
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
      { name: 'signature', type: 'bytes' },
    ],
    outputs: [],
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
  {
    type: 'event',
    name: 'AuthorizationUsed',
    inputs: [
      { name: 'authorizer', type: 'address', indexed: true },
      { name: 'nonce', type: 'bytes32', indexed: true },
    ],
  },
] as const;

/** EIP-3009's typed-data types for viem's signTypedData (primaryType 'TransferWithAuthorization'): the gateway's own. */
export const transferWithAuthorizationTypes = TRANSFER_WITH_AUTHORIZATION_TYPES;

// ---------------------------------------------------------------------------------------------
// Compilation (solc-js, in-process, once per process)

let compiled: Record<string, CompiledContract> | undefined;

type SolcOutput = {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
};

/** Compiles every test/contracts/*.sol and contracts/*.sol with the solc-js bundled in node_modules; cached per process. */
export function compileContracts(): Record<string, CompiledContract> {
  if (compiled) return compiled;
  // The `solc` package embeds its compiler (soljson.js); requiring it never touches the network.
  const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string };
  const sources: Record<string, { content: string }> = {};
  for (const file of readdirSync(CONTRACTS_DIR).filter((f) => f.endsWith('.sol'))) {
    sources[file] = { content: readFileSync(join(CONTRACTS_DIR, file), 'utf8') };
  }
  for (const file of readdirSync(PRODUCT_CONTRACTS_DIR).filter((f) => f.endsWith('.sol'))) {
    sources[`contracts/${file}`] = { content: readFileSync(join(PRODUCT_CONTRACTS_DIR, file), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);
  const result: Record<string, CompiledContract> = {};
  for (const file of Object.values(output.contracts ?? {})) {
    for (const [name, contract] of Object.entries(file)) {
      const bytecode = contract.evm.bytecode.object;
      if (bytecode) result[name] = { abi: contract.abi, bytecode: `0x${bytecode}` };
    }
  }
  compiled = result;
  return result;
}

// ---------------------------------------------------------------------------------------------
// The node

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: a test that forgot stop(), or a failed run. The node also watches its parent
  // (test/chain/hardhat.config.cjs) for the cases where no exit handler can run.
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
}

async function rpc(url: string, method: string, params: unknown[] = [], timeoutMs = 5_000): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

async function spawnNode(timeoutMs: number, chainId: number): Promise<{ child: ChildProcess; rpcUrl: string }> {
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${port}`;
  const child = spawn(HARDHAT_BIN, ['--config', HARDHAT_CONFIG, 'node', '--hostname', '127.0.0.1', '--port', String(port)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      CI: 'true',
      HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true',
      TOLLGATE_CHAIN_WATCH_PARENT: '1',
      TOLLGATE_CHAIN_ID: String(chainId),
    },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // Drain the output (the node prints every request); keep the tail for error messages.
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? -1;
  });
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`hardhat node exited (${exited}) before answering:\n${tail}`);
    try {
      const id = await rpc(rpcUrl, 'eth_chainId', [], 2_000);
      if (Number(id) === chainId) return { child, rpcUrl };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error(`hardhat node did not answer within ${timeoutMs} ms:\n${tail}`);
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts a hardhat node on a free port (chain 31337 unless `chainId` says otherwise) and waits until it answers. Startup takes a few seconds,
 * much longer on a loaded machine: the timeout is generous (TEST_CHAIN_START_TIMEOUT_MS, 120 s).
 * Call stop() in afterAll; the node is also killed when this process exits.
 */
export async function startTestChain(options: { timeoutMs?: number; chainId?: number } = {}): Promise<TestChain> {
  const chainId = options.chainId ?? TEST_CHAIN_ID;
  installExitHook();
  const timeoutMs = options.timeoutMs ?? Number(process.env.TEST_CHAIN_START_TIMEOUT_MS ?? 120_000);
  let started: { child: ChildProcess; rpcUrl: string } | undefined;
  let lastError: unknown;
  // A port taken between probing and binding makes the node exit at once: try again elsewhere.
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    try {
      started = await spawnNode(timeoutMs, chainId);
    } catch (error) {
      lastError = error;
    }
  }
  if (!started) throw lastError;
  const { child, rpcUrl } = started;

  const chain = defineChain({
    id: chainId,
    name: 'Hardhat (test)',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const transport = http(rpcUrl, { retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient<Transport, Chain>;
  const walletClient = (account: Account) => createWalletClient({ account, chain, transport, pollingInterval: 50 });

  const privateKeys: Hex[] = [];
  for (let i = 0; i < ACCOUNT_COUNT; i++) {
    const key = mnemonicToAccount(HARDHAT_MNEMONIC, { addressIndex: i }).getHdKey().privateKey;
    if (!key) throw new Error('could not derive the development keys');
    privateKeys.push(toHex(key));
  }
  const accounts = privateKeys.map((key) => privateKeyToAccount(key)) as unknown as TestAccounts;

  const deploy = async (contract: string | CompiledContract, args: readonly unknown[] = [], from: Account = accounts[0]) => {
    const artifact = typeof contract === 'string' ? compileContracts()[contract] : contract;
    if (!artifact) throw new Error(`no compiled contract named ${String(contract)} in test/contracts or contracts`);
    const hash = await walletClient(from).deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`deployment failed: ${hash}`);
    return getAddress(receipt.contractAddress);
  };

  const mined = async (hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`transaction reverted: ${hash}`);
    return hash;
  };

  const deployStablecoin = async (options: StablecoinOptions): Promise<DeployedStablecoin> => {
    const domainName = options.domainName ?? options.name;
    const address = await deploy('TestStablecoin', [options.name, options.symbol, domainName, options.version]);
    const owner = walletClient(accounts[0]);
    return {
      address,
      abi: testStablecoinAbi,
      name: options.name,
      symbol: options.symbol,
      domain: { name: domainName, version: options.version, chainId, verifyingContract: address },
      mint: async (to, amount) =>
        mined(await owner.writeContract({ address, abi: testStablecoinAbi, functionName: 'mint', args: [to, amount] })),
      balanceOf: (who) => publicClient.readContract({ address, abi: testStablecoinAbi, functionName: 'balanceOf', args: [who] }),
      transfer: async (from, to, amount) =>
        mined(
          await walletClient(from).writeContract({ address, abi: testStablecoinAbi, functionName: 'transfer', args: [to, amount] }),
        ),
    };
  };

  return {
    rpcUrl,
    chainId,
    chain,
    accounts,
    privateKeys,
    publicClient,
    walletClient,
    deploy,
    deployStablecoin,
    mine: async (blocks = 1) => {
      await rpc(rpcUrl, 'hardhat_mine', [numberToHex(blocks)]);
    },
    setAutomine: async (enabled) => {
      await rpc(rpcUrl, 'evm_setAutomine', [enabled]);
    },
    increaseTime: async (seconds) => {
      await rpc(rpcUrl, 'evm_increaseTime', [seconds]);
      await rpc(rpcUrl, 'evm_mine', []);
    },
    blockNumber: () => publicClient.getBlockNumber({ cacheTime: 0 }),
    stop: () => stopChild(child),
  };
}

/** Same as `chain.deployStablecoin(options)`. */
export function deployStablecoin(chain: TestChain, options: StablecoinOptions): Promise<DeployedStablecoin> {
  return chain.deployStablecoin(options);
}
