// An injected EIP-1193 wallet for specs on a local chain: accounts and signatures come from the test
// process (a viem account of the hardhat node), everything else is forwarded to the node.
import type { Page } from '@playwright/test';
import { hexToBigInt, type Address, type Hex, type PrivateKeyAccount } from 'viem';
import type { TestChain } from '../test/helpers/chain';

type TxRequest = { from: Address; to: Address; data?: Hex; value?: Hex; gas?: Hex };

export async function injectWallet(page: Page, chain: TestChain, account: PrivateKeyAccount) {
  const wallet = chain.walletClient(account);
  // Like a real wallet, no account is exposed before the site asks for it (so nothing auto-connects mid-click).
  let authorized = false;
  await page.exposeFunction('__tollgateWallet', async (method: string, params: unknown[] = []) => {
    switch (method) {
      case 'eth_requestAccounts':
        authorized = true;
        return [account.address];
      case 'eth_accounts':
        return authorized ? [account.address] : [];
      case 'eth_chainId':
        return `0x${chain.chainId.toString(16)}`;
      case 'net_version':
        return String(chain.chainId);
      case 'wallet_requestPermissions':
      case 'wallet_getPermissions':
        return [{ parentCapability: 'eth_accounts' }];
      case 'wallet_switchEthereumChain':
      case 'wallet_revokePermissions':
        return null;
      case 'personal_sign':
        return account.signMessage({ message: { raw: params[0] as Hex } });
      case 'eth_sendTransaction': {
        const tx = params[0] as TxRequest;
        return wallet.sendTransaction({ to: tx.to, data: tx.data, value: tx.value ? hexToBigInt(tx.value) : undefined, gas: tx.gas ? hexToBigInt(tx.gas) : undefined });
      }
      default: {
        const response = await fetch(chain.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
        const body = (await response.json()) as { result?: unknown; error?: { message: string; code: number } };
        if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code });
        return body.result;
      }
    }
  });
  await page.addInitScript(() => {
    const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
    const call = (window as unknown as { __tollgateWallet: (method: string, params?: unknown[]) => Promise<unknown> }).__tollgateWallet;
    const provider = {
      isMetaMask: false,
      request: ({ method, params }: { method: string; params?: unknown[] }) => call(method, params ?? []),
      on: (event: string, listener: (...args: unknown[]) => void) => {
        if (!listeners.has(event)) listeners.set(event, new Set());
        listeners.get(event)!.add(listener);
      },
      removeListener: (event: string, listener: (...args: unknown[]) => void) => listeners.get(event)?.delete(listener),
    };
    Object.defineProperty(window, 'ethereum', { value: provider, configurable: true });
  });
  return account;
}
