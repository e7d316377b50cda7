'use client';

import { useEffect, useState, type FormEvent } from 'react';
import { Button, Field, Input, Select } from '@/components/ui';
import { PROVIDER_NAMES, SELL_PROVIDERS, type SellProvider } from './api';
import { emptyPoolForm, FIELD_OF_PARAM, POOL_FORM_FIELDS, validatePoolForm, type CreatePoolBody, type PoolFormField, type PoolFormValues } from './pool-form-values';

// Fixed ids, so focus can move to a field without refs through the ui primitives.
const ID: Record<PoolFormField, string> = {
  provider: 'pool-provider',
  apiKey: 'pool-api-key',
  faceValue: 'pool-face-value',
  ratePercent: 'pool-rate',
  expires: 'pool-expires',
};
const focusField = (field: PoolFormField) => document.getElementById(ID[field])?.focus();

/**
 * Lists a provider key as a pool. Checked here first in plain words; the server verifies the key
 * with one live call, which takes a few seconds, so the pending state names the provider.
 * `onSubmit` resolves true when the pool was listed: only then is the key field cleared.
 */
export function PoolForm({
  onSubmit,
  pending,
  serverError,
}: {
  onSubmit: (body: CreatePoolBody) => Promise<boolean>;
  pending: boolean;
  serverError: { message: string; param: string | null } | null;
}) {
  const [values, setValues] = useState<PoolFormValues>(emptyPoolForm);
  const [errors, setErrors] = useState<Partial<Record<PoolFormField, string>>>({});
  // The provider the pending request is about, not whatever the select says meanwhile.
  const [verifying, setVerifying] = useState<SellProvider>('openai');
  // Focus moves after the render that marks the field, so its message is read with it.
  const [focusTarget, setFocusTarget] = useState<{ field: PoolFormField } | null>(null);
  useEffect(() => {
    if (focusTarget) focusField(focusTarget.field);
  }, [focusTarget]);
  const set = <K extends PoolFormField>(key: K, value: PoolFormValues[K]) => setValues((v) => ({ ...v, [key]: value }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = validatePoolForm(values);
    if (!result.ok) {
      setErrors(result.errors);
      const first = POOL_FORM_FIELDS.find((field) => result.errors[field]);
      if (first) setFocusTarget({ field: first });
      return;
    }
    setErrors({});
    setVerifying(result.body.provider);
    // The key leaves the browser once, in this request; a listed key is never shown again.
    if (await onSubmit(result.body)) setValues((v) => ({ ...v, apiKey: '' }));
  }

  const serverField = serverError?.param ? FIELD_OF_PARAM[serverError.param.split('.')[0]!] : undefined;
  // By value, not identity: the parent builds a new error object on every render, and focus must
  // move once per refusal, not on each refetch or click elsewhere.
  const serverErrorKey = serverError ? `${serverError.param ?? ''}|${serverError.message}` : null;
  // A refused key lands on the key field: take the seller there, as for the checks above.
  useEffect(() => {
    if (serverField && !pending) focusField(serverField);
  }, [serverField, serverErrorKey, pending]);
  const errorFor = (field: PoolFormField) => errors[field] ?? (serverField === field ? serverError?.message : undefined);
  const name = PROVIDER_NAMES[values.provider];

  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="space-y-4" data-testid="pool-form" aria-labelledby="pool-form-title">
      <div className="grid gap-4 sm:grid-cols-2">
        <Field id={ID.provider} label="Provider" error={errorFor('provider')}>
          <Select value={values.provider} onChange={(e) => set('provider', e.target.value as SellProvider)} disabled={pending} data-testid="pool-provider">
            {SELL_PROVIDERS.map((id) => (
              <option key={id} value={id}>
                {PROVIDER_NAMES[id]}
              </option>
            ))}
          </Select>
        </Field>
        <Field id={ID.apiKey} label={`${name} API key`} error={errorFor('apiKey')} hint="Checked with one small live call, then stored encrypted. It is never shown again.">
          <Input
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={values.apiKey}
            onChange={(e) => set('apiKey', e.target.value)}
            disabled={pending}
            data-testid="pool-api-key"
          />
        </Field>
        <Field id={ID.faceValue} label="Face value (USD)" error={errorFor('faceValue')} hint="How much provider spend, at list price, you offer. At least $1.">
          <div className="relative">
            <span aria-hidden className="pointer-events-none absolute inset-y-0 left-3 flex items-center text-sm text-slate-500">
              $
            </span>
            <Input inputMode="decimal" placeholder="250" className="pl-7" value={values.faceValue} onChange={(e) => set('faceValue', e.target.value)} disabled={pending} data-testid="pool-face-value" />
          </div>
        </Field>
        <Field id={ID.ratePercent} label="Rate" error={errorFor('ratePercent')} hint="Your share of list price for what buyers use, 1% to 100%.">
          <div className="relative">
            <Input inputMode="decimal" className="pr-8" value={values.ratePercent} onChange={(e) => set('ratePercent', e.target.value)} disabled={pending} data-testid="pool-rate" />
            <span aria-hidden className="pointer-events-none absolute inset-y-0 right-3 flex items-center text-sm text-slate-500">
              %
            </span>
          </div>
        </Field>
        <Field id={ID.expires} label="Expires" optional error={errorFor('expires')} hint="Last day the listing is open (UTC). Empty: no expiry.">
          <Input type="date" value={values.expires} onChange={(e) => set('expires', e.target.value)} disabled={pending} data-testid="pool-expires" />
        </Field>
      </div>

      {serverError && !serverField ? (
        <p role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="pool-form-error">
          {serverError.message}
        </p>
      ) : null}

      <div className="flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-end">
        <p role="status" className="text-sm text-slate-600" data-testid="pool-form-status">
          {pending ? `Verifying your key with ${PROVIDER_NAMES[verifying]}…` : ''}
        </p>
        <Button type="submit" loading={pending} data-testid="pool-submit">
          List this credit
        </Button>
      </div>
    </form>
  );
}
