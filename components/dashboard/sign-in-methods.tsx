'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { WalletSignIn } from '@/components/auth/wallet-sign-in';
import { Button, Card, CardBody, CardHeader, Field, Input } from '@/components/ui';
import { apiFetch, type AccountView } from '@/components/keys/api';
import { linkEmailSchema } from '@/lib/auth/link-schemas';

/** Email and wallet on one account: add whichever is missing. */
export function SignInMethods() {
  const queryClient = useQueryClient();
  const account = useQuery({ queryKey: ['account'], queryFn: () => apiFetch<AccountView>('/api/account') });
  const [email, setEmail] = useState('');
  const [emailError, setEmailError] = useState<string | null>(null);
  const sendLink = useMutation({ mutationFn: (address: string) => apiFetch<{ status: string }>('/api/auth/link-email', { method: 'POST', body: { email: address } }) });

  if (!account.data) return null;
  const user = account.data.user;

  function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = linkEmailSchema.safeParse({ email });
    if (!parsed.success) {
      setEmailError('Enter an email address like you@example.com');
      return;
    }
    setEmailError(null);
    sendLink.mutate(parsed.data.email);
  }

  return (
    <Card data-testid="sign-in-methods">
      <CardHeader title="Sign-in methods" description="Sign in with your email or your wallet; both lead to this account." />
      <CardBody className="grid gap-6 sm:grid-cols-2">
        <div className="space-y-2">
          <p className="text-sm font-medium text-slate-800">Email</p>
          {user.email ? (
            <p className="text-sm text-slate-600" data-testid="account-email">
              {user.email}
            </p>
          ) : sendLink.isSuccess ? (
            <p className="text-sm text-slate-600" role="status">
              Check your inbox: the link adds the address to this account.
            </p>
          ) : (
            <form onSubmit={submit} noValidate className="space-y-2">
              <Field label="Add an email address" error={emailError ?? sendLink.error?.message}>
                <Input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" placeholder="you@example.com" />
              </Field>
              <Button type="submit" size="sm" loading={sendLink.isPending}>
                Send confirmation link
              </Button>
            </form>
          )}
        </div>
        <div className="space-y-2">
          <p className="text-sm font-medium text-slate-800">Ethereum wallet</p>
          {user.wallet_address ? (
            <p className="font-mono text-sm break-all text-slate-600" data-testid="account-wallet">
              {user.wallet_address}
            </p>
          ) : (
            <WalletSignIn mode="link" onLinked={() => void queryClient.invalidateQueries({ queryKey: ['account'] })} />
          )}
        </div>
      </CardBody>
    </Card>
  );
}
