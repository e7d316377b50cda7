'use client';

import { useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Button, Field, Input, useFocusFirstInvalid } from '@/components/ui';
import { createKeySchema, updateKeySchema } from '@/lib/account/schemas';
import type { KeyView } from './api';
import { FIELD_OF_PARAM, initialKeyFormValues, issueText, keyFormBody, validateKeyForm, type KeyFormBody, type KeyFormErrors, type KeyFormField, type KeyFormValues } from './key-form-values';

export type CatalogModel = { id: string; name: string; status: string };

/** Create and edit share one form; the server's schemas decide what is valid, here and there. */
export function KeyForm({
  mode,
  models,
  initial,
  submitLabel,
  onSubmit,
  onCancel,
  serverError,
  pending,
  linkedWallet = null,
}: {
  mode: 'create' | 'edit';
  models: CatalogModel[];
  initial?: KeyView;
  submitLabel: string;
  onSubmit: (body: KeyFormBody) => void;
  onCancel: () => void;
  serverError?: { message: string; param: string | null } | null;
  pending: boolean;
  /** The account's linked wallet, which may back a key's daily budget. */
  linkedWallet?: string | null;
}) {
  const [state, setState] = useState<KeyFormValues>(() => initialKeyFormValues(initial));
  const [errors, setErrors] = useState<KeyFormErrors>({});
  const [refused, setRefused] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusFirstInvalid(formRef, refused);
  const set = <K extends keyof KeyFormValues>(key: K, value: KeyFormValues[K]) => setState((s) => ({ ...s, [key]: value }));

  function submit(event: FormEvent) {
    event.preventDefault();
    const next = validateKeyForm(state, new Date(), initial);
    const body = keyFormBody(state, initial, linkedWallet);
    // The server's schema has the last word; its API-style message is the fallback only.
    const parsed = (mode === 'create' ? createKeySchema : updateKeySchema).safeParse(body);
    if (!parsed.success && Object.keys(next).length === 0) next.form = `Something in the form is not valid: ${issueText(parsed.error.issues[0])}. Check the values and try again.`;
    if (Object.keys(next).length > 0) {
      setErrors(next);
      setRefused((n) => n + 1);
      return;
    }
    setErrors({});
    onSubmit(body);
  }

  // A server refusal names its parameter: its message goes on that field, and focus moves there.
  const serverField = serverError?.param ? (FIELD_OF_PARAM[serverError.param] ?? FIELD_OF_PARAM[serverError.param.split('.')[0]!]) : undefined;
  // (Compared by content: the parent builds a new object on every render.)
  const serverErrorText = serverError ? `${serverError.param ?? ''}:${serverError.message}` : null;
  const [seenServerError, setSeenServerError] = useState(serverErrorText);
  if (serverErrorText !== seenServerError) {
    setSeenServerError(serverErrorText);
    if (serverField) setRefused((n) => n + 1);
  }
  const errorFor = (field: KeyFormField): ReactNode => errors[field] ?? (serverField === field ? serverError?.message : undefined);

  return (
    <form ref={formRef} onSubmit={submit} noValidate className="space-y-4" data-testid="key-form">
      <Field label="Name" error={errorFor('name')} hint="For you: which app or agent uses this key.">
        <Input value={state.name} onChange={(e) => set('name', e.target.value)} maxLength={100} data-testid="key-name" autoFocus />
      </Field>

      <fieldset className="space-y-2">
        <legend className="text-sm font-medium text-slate-800">Models</legend>
        <div className="flex gap-4 text-sm">
          <label className="flex items-center gap-2">
            <input type="radio" name="models-mode" checked={state.allModels} onChange={() => set('allModels', true)} data-testid="models-all" /> All models
          </label>
          <label className="flex items-center gap-2">
            <input type="radio" name="models-mode" checked={!state.allModels} onChange={() => set('allModels', false)} data-testid="models-some" /> Only these
          </label>
        </div>
        {!state.allModels ? (
          <div className="grid max-h-44 gap-1 overflow-y-auto rounded-lg p-2 ring-1 ring-slate-200 sm:grid-cols-2">
            {models.map((model, index) => (
              <label key={model.id} className="flex items-center gap-2 rounded px-1 py-0.5 text-sm hover:bg-slate-50">
                <input
                  type="checkbox"
                  checked={state.models.includes(model.id)}
                  aria-invalid={index === 0 && errorFor('models') ? true : undefined}
                  aria-describedby={errorFor('models') ? 'key-models-error' : undefined}
                  onChange={(e) => set('models', e.target.checked ? [...state.models, model.id] : state.models.filter((m) => m !== model.id))}
                />
                <span className="font-mono text-xs">{model.id}</span>
                {model.status !== 'live' ? <span className="text-xs text-slate-400">({model.status})</span> : null}
              </label>
            ))}
          </div>
        ) : null}
        {errorFor('models') ? (
          <p id="key-models-error" className="text-xs font-medium text-red-700">
            {errorFor('models')}
          </p>
        ) : null}
      </fieldset>

      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Daily request quota" optional error={errorFor('dailyRequests')} hint="Requests per UTC day. Empty: unlimited.">
          <Input type="number" inputMode="numeric" min={1} step={1} value={state.dailyRequests} onChange={(e) => set('dailyRequests', e.target.value)} data-testid="key-daily-requests" />
        </Field>
        <Field label="Daily budget (USD)" optional error={errorFor('dailyBudget')} hint="Dollars per UTC day. Empty: the balance is the limit.">
          <Input inputMode="decimal" placeholder={state.walletBacked ? 'from the wallet' : '5.00'} value={state.walletBacked ? '' : state.dailyBudget} disabled={state.walletBacked} onChange={(e) => set('dailyBudget', e.target.value)} data-testid="key-daily-budget" />
        </Field>
        <Field label="Rate limit: burst" error={errorFor('burst')} hint="Requests allowed at once.">
          <Input type="number" inputMode="numeric" min={1} step={1} value={state.burst} onChange={(e) => set('burst', e.target.value)} data-testid="key-burst" />
        </Field>
        <Field label="Rate limit: refill per second" error={errorFor('perSecond')} hint="Sustained requests per second.">
          <Input type="number" inputMode="decimal" min={0.01} step="any" value={state.perSecond} onChange={(e) => set('perSecond', e.target.value)} data-testid="key-refill" />
        </Field>
        <Field label="Expires" optional error={errorFor('expires')} hint="Last day the key works (UTC). Empty: never.">
          <Input type="date" value={state.expires} onChange={(e) => set('expires', e.target.value)} data-testid="key-expires" />
        </Field>
        {linkedWallet || initial?.budget_wallet ? (
          <div className="flex items-start gap-2 sm:col-span-2">
            <input id="wallet-backed" type="checkbox" checked={state.walletBacked} onChange={(e) => set('walletBacked', e.target.checked)} aria-invalid={errorFor('walletBacked') ? true : undefined} className="mt-0.5" data-testid="key-wallet-backed" />
            <label htmlFor="wallet-backed" className="text-sm text-slate-700">
              <span className="font-medium text-slate-800">Budget from my wallet</span>
              <span className="block text-xs text-slate-500">
                The daily budget follows the token balance of {initial?.budget_wallet?.address ?? linkedWallet}, read on chain at intervals, instead of a fixed amount.
              </span>
              {errorFor('walletBacked') ? (
                <span role="alert" className="block text-xs text-red-700">
                  {errorFor('walletBacked')}
                </span>
              ) : null}
            </label>
          </div>
        ) : null}
        <div className="flex items-start gap-2 pt-7">
          <input id="packs-only" type="checkbox" checked={state.packsOnly} onChange={(e) => set('packsOnly', e.target.checked)} className="mt-0.5" data-testid="key-packs-only" />
          <label htmlFor="packs-only" className="text-sm text-slate-700">
            <span className="font-medium text-slate-800">Packs only</span>
            <span className="block text-xs text-slate-500">Refuse calls no active pack covers, instead of paying from the wallet.</span>
          </label>
        </div>
      </div>

      {errors.form || (serverError && !serverField) ? (
        <p role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800">
          {errors.form ?? serverError?.message}
        </p>
      ) : null}

      <div className="flex flex-col-reverse gap-2 pt-2 sm:flex-row sm:justify-end">
        <Button variant="secondary" onClick={onCancel} disabled={pending}>
          Cancel
        </Button>
        <Button type="submit" loading={pending} data-testid="key-submit">
          {submitLabel}
        </Button>
      </div>
    </form>
  );
}
