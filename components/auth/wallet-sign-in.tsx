'use client';

import { ConnectButton } from '@rainbow-me/rainbowkit';
import { useRouter } from 'next/navigation';
import { signIn } from 'next-auth/react';
import { useState } from 'react';
import { createSiweMessage } from 'viem/siwe';
import { useAccount, useSignMessage } from 'wagmi';
import { Button } from '@/components/ui';

const STATEMENT = 'Sign in to Tollgate. This signature only proves that you own this wallet: it authorizes no transaction and no transfer.';

async function siweMessage(address: `0x${string}`, chainId: number): Promise<string> {
  const response = await fetch('/api/auth/siwe/nonce', { cache: 'no-store' });
  if (!response.ok) throw new Error('Could not start wallet sign-in. Try again.');
  const { nonce } = (await response.json()) as { nonce: string };
  const now = new Date();
  return createSiweMessage({
    domain: window.location.host,
    address,
    statement: STATEMENT,
    uri: window.location.origin,
    version: '1',
    chainId,
    nonce,
    issuedAt: now,
    expirationTime: new Date(now.getTime() + 5 * 60_000),
  });
}

/**
 * Connect a wallet with RainbowKit, then sign a Sign-In with Ethereum message. `signin` starts a
 * session for the wallet's account; `link` adds the wallet to the account already signed in.
 */
export function WalletSignIn({ callbackUrl = '/dashboard', mode = 'signin', onLinked }: { callbackUrl?: string; mode?: 'signin' | 'link'; onLinked?: (address: string) => void }) {
  const router = useRouter();
  const { address, chainId, isConnected } = useAccount();
  const { signMessageAsync } = useSignMessage();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function go() {
    if (!address) return;
    setPending(true);
    setError(null);
    try {
      const message = await siweMessage(address, chainId ?? 1);
      const signature = await signMessageAsync({ message });
      if (mode === 'link') {
        const response = await fetch('/api/auth/siwe/link', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message, signature }) });
        const body = (await response.json()) as { wallet_address?: string; error?: { message: string } };
        if (!response.ok) throw new Error(body.error?.message ?? 'Could not link this wallet.');
        onLinked?.(body.wallet_address!);
        router.refresh();
        return;
      }
      const result = await signIn('siwe', { message, signature, redirect: false, callbackUrl });
      if (!result || result.error) throw new Error('The wallet signature could not be verified, or this account cannot sign in.');
      router.push(callbackUrl);
      router.refresh();
    } catch (caught) {
      const text = caught instanceof Error ? caught.message : String(caught);
      setError(/reject|denied/i.test(text) ? 'You declined the signature request in your wallet.' : text.split('\n')[0]!);
    } finally {
      setPending(false);
    }
  }

  return (
    <div className="space-y-3" data-testid={`wallet-${mode}`}>
      <div className="flex flex-wrap items-center gap-3">
        <ConnectButton showBalance={false} chainStatus="none" accountStatus="address" label="Connect wallet" />
        {isConnected ? (
          <Button onClick={() => void go()} loading={pending} data-testid="wallet-sign">
            {mode === 'link' ? 'Sign to link this wallet' : 'Sign in with this wallet'}
          </Button>
        ) : null}
      </div>
      <p className="text-xs text-slate-500">Your wallet signs a one-time message (Sign-In with Ethereum). It cannot move funds.</p>
      {error ? (
        <p role="alert" className="text-sm text-red-700">
          {error}
        </p>
      ) : null}
    </div>
  );
}
