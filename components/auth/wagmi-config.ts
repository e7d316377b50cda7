'use client';

import { connectorsForWallets } from '@rainbow-me/rainbowkit';
import { coinbaseWallet, injectedWallet, metaMaskWallet, rainbowWallet, walletConnectWallet } from '@rainbow-me/rainbowkit/wallets';
import { defineChain, type Chain } from 'viem';
import { arbitrum, base, baseSepolia, mainnet, polygon } from 'viem/chains';
import { createConfig, http, type Transport } from 'wagmi';

const devRpcUrl = process.env.NEXT_PUBLIC_DEV_CHAIN_RPC_URL;
const walletConnectProjectId = process.env.NEXT_PUBLIC_WALLETCONNECT_PROJECT_ID;

/** The local test chain (Hardhat, 31337), offered only when NEXT_PUBLIC_DEV_CHAIN_RPC_URL names it. */
const devChain = devRpcUrl
  ? defineChain({ id: 31337, name: 'Local chain', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [devRpcUrl] } }, testnet: true })
  : null;

const chains = [mainnet, base, arbitrum, polygon, baseSepolia, ...(devChain ? [devChain] : [])] as [Chain, ...Chain[]];

// Only the browser's injected wallet unless a WalletConnect project id is configured: nothing
// here talks to a relay or a wallet registry, so sign-in works offline and in tests.
const connectors = connectorsForWallets(
  walletConnectProjectId
    ? [
        { groupName: 'Installed', wallets: [injectedWallet] },
        { groupName: 'Popular', wallets: [metaMaskWallet, coinbaseWallet, rainbowWallet, walletConnectWallet] },
      ]
    : [{ groupName: 'Installed', wallets: [injectedWallet] }],
  { appName: 'Tollgate', projectId: walletConnectProjectId || 'unused-without-walletconnect' },
);

export const wagmiConfig = createConfig({
  chains,
  connectors,
  transports: Object.fromEntries(chains.map((chain) => [chain.id, http()])) as Record<number, Transport>,
  ssr: true,
});
