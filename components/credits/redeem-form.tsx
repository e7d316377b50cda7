'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Button, Field, Input } from '@/components/ui';
import { ApiError, apiFetch, formatUsd } from '@/components/keys/api';

const FIELD_ID = 'redeem-code';
// The shared Input takes no ref; the field's id finds it.
const focusField = () => document.getElementById(FIELD_ID)?.focus();

type Redeemed = { credited_usd: number; replayed: boolean; balance_usd: number };

/** What the redemption API's error codes mean, in the words a customer would use. */
function humanError(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Could not reach Tollgate. Check your connection and try again.';
  switch (error.code) {
    case 'invalid_code':
      return 'That does not look like a Tollgate code. Codes look like TG-XXXX-XXXX-XXXX.';
    case 'code_not_found':
      return 'We could not find that code. Check it for typos and try again.';
    case 'code_already_redeemed':
      return 'This code has already been used.';
    case 'code_expired':
      return 'This code has expired.';
    case 'redemption_rate_limited':
      return error.message;
    default:
      return error.param === 'code' ? 'Enter a code like TG-XXXX-XXXX-XXXX.' : error.message;
  }
}

/** Redeems a TG-… code into the wallet (POST /api/credits/redeem); totals and history refresh on success. */
export function RedeemForm() {
  const queryClient = useQueryClient();
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [success, setSuccess] = useState<string | null>(null);

  const redeem = useMutation({
    mutationFn: (value: string) => apiFetch<Redeemed>('/api/credits/redeem', { method: 'POST', body: { code: value } }),
    onSuccess: async (result) => {
      setCode('');
      setSuccess(result.replayed ? `You had already redeemed this code. Your wallet holds ${formatUsd(result.balance_usd)}.` : `${formatUsd(result.credited_usd)} added to your wallet.`);
      await Promise.all([queryClient.invalidateQueries({ queryKey: ['credits-history'] }), queryClient.invalidateQueries({ queryKey: ['account'] })]);
    },
    onError: (caught) => {
      setError(humanError(caught));
      // After React renders the message, so the field is announced with its error.
      requestAnimationFrame(focusField);
    },
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setSuccess(null);
    const value = code.trim();
    if (!value) {
      setError('Enter the code you were given, like TG-XXXX-XXXX-XXXX.');
      focusField();
      return;
    }
    setError(null);
    redeem.mutate(value);
  };

  return (
    <form onSubmit={submit} noValidate className="space-y-3" aria-labelledby="redeem-heading" data-testid="redeem-form">
      <Field id={FIELD_ID} label="Redemption code" error={error ?? undefined} hint="Case and dashes do not matter.">
        <Input
          name="code"
          value={code}
          onChange={(event) => {
            setCode(event.target.value);
            if (error) setError(null);
          }}
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          placeholder="TG-XXXX-XXXX-XXXX"
          maxLength={40}
          data-testid="redeem-code"
        />
      </Field>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" disabled={redeem.isPending} data-testid="redeem-submit">
          {redeem.isPending ? 'Redeeming…' : 'Redeem'}
        </Button>
        <p role="status" aria-live="polite" className="text-sm font-medium text-emerald-700" data-testid="redeem-success">
          {success}
        </p>
      </div>
    </form>
  );
}
