// A local chain that answers as Base Sepolia (chain id 84532), for the x402 v1 client: x402-fetch 1.x
// maps network names to chain ids from a closed list (no local chain), and signs for that id. Same
// node, config and contracts as test/helpers/chain.ts (which runs chain 31337); only the id differs.
import { freePort } from './ports';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicClient, createWalletClient, defineChain, getAddress, http, toHex, type Address, type Hex } from 'viem';
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { HARDHAT_MNEMONIC, compileContracts, testStablecoinAbi } from './chain';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BASE_SEPOLIA_CHAIN_ID = 84532;

export async function startBaseSepoliaChain(timeoutMs = Number(process.env.TEST_CHAIN_START_TIMEOUT_MS ?? 120_000)) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-x402-chain-'));
  const config = join(dir, 'hardhat.config.cjs');
  const base = JSON.stringify(join(ROOT, 'test', 'chain', 'hardhat.config.cjs'));
  writeFileSync(config, `const base = require(${base});\nmodule.exports = { ...base, networks: { ...base.networks, hardhat: { ...base.networks.hardhat, chainId: ${BASE_SEPOLIA_CHAIN_ID} } } };\n`);
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${port}`;
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'hardhat'), ['--config', config, 'node', '--hostname', '127.0.0.1', '--port', String(port)], {
    cwd: ROOT,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, CI: 'true', HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true', TOLLGATE_CHAIN_WATCH_PARENT: '1' },
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async () => {
    process.off('exit', kill);
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const chain = defineChain({ id: BASE_SEPOLIA_CHAIN_ID, name: 'Base Sepolia (local)', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 50 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await publicClient.getChainId()) === BASE_SEPOLIA_CHAIN_ID) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error('the Base Sepolia test chain did not start');
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  const privateKeys = Array.from({ length: 10 }, (_, i) => toHex(mnemonicToAccount(HARDHAT_MNEMONIC, { addressIndex: i }).getHdKey().privateKey!)) as Hex[];
  const accounts = privateKeys.map((key) => privateKeyToAccount(key));
  const owner = createWalletClient({ chain, account: accounts[0]!, transport: http(rpcUrl), pollingInterval: 50 });

  /** The test stablecoin (EIP-3009, 6 decimals) with USDC's Base Sepolia domain: name "USDC", version "2". */
  async function deployStablecoin() {
    const { abi, bytecode } = compileContracts().TestStablecoin!;
    const deployed = await publicClient.waitForTransactionReceipt({ hash: await owner.deployContract({ abi, bytecode, args: ['USDC', 'USDC', 'USDC', '2'] }) });
    const address = getAddress(deployed.contractAddress!);
    return {
      address,
      domain: { name: 'USDC', version: '2', chainId: BASE_SEPOLIA_CHAIN_ID, verifyingContract: address },
      mint: async (to: Address, amount: bigint) => {
        await publicClient.waitForTransactionReceipt({ hash: await owner.writeContract({ address, abi: testStablecoinAbi, functionName: 'mint', args: [to, amount] }) });
      },
      balanceOf: (who: Address) => publicClient.readContract({ address, abi: testStablecoinAbi, functionName: 'balanceOf', args: [who] }),
    };
  }

  return { rpcUrl, chainId: BASE_SEPOLIA_CHAIN_ID, accounts, privateKeys, publicClient, deployStablecoin, stop };
}
