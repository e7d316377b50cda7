'use client';

import { useState, type FormEvent, type ReactNode } from 'react';
import { Button, Field, Input } from '@/components/ui';
import { createKeySchema, updateKeySchema } from '@/lib/account/schemas';
import type { KeyView } from './api';

export type CatalogModel = { id: string; name: string; status: string };

type FormState = {
  name: string;
  allModels: boolean;
  models: string[];
  dailyRequests: string;
  dailyBudget: string;
  burst: string;
  perSecond: string;
  expires: string;
  packsOnly: boolean;
  /** The daily budget follows the linked wallet's on-chain balance instead of a fixed amount. */
  walletBacked: boolean;
};

function initialState(key?: KeyView): FormState {
  return {
    name: key?.name ?? '',
    allModels: !key?.models,
    models: key?.models ?? [],
    dailyRequests: key?.limits.daily_requests?.toString() ?? '',
    dailyBudget: key?.limits.daily_budget_usd?.toString() ?? '',
    burst: String(key?.limits.rate_limit.burst ?? 10),
    perSecond: String(key?.limits.rate_limit.per_second ?? 0.5),
    expires: key?.expires_at ? key.expires_at.slice(0, 10) : '',
    packsOnly: key?.packs_only ?? false,
    walletBacked: key?.budget_wallet != null,
  };
}

/**
 * The request body the API takes, from the form's text fields (validated with the server's zod
 * schema). A wallet-backed key sends its wallet and no budget (the wallet's balance sets it);
 * turning the wallet off sends `budget_wallet: null` with the fixed budget; otherwise neither
 * side of the wallet is touched.
 */
function toBody(state: FormState, initial: KeyView | undefined, linkedWallet: string | null) {
  const number = (text: string) => (text.trim() === '' ? null : Number(text));
  const wasWalletBacked = initial?.budget_wallet != null;
  const walletAddress = initial?.budget_wallet?.address ?? linkedWallet;
  // Re-sending the wallet of a key it already backs would restart its snapshot: leave it alone.
  const budget =
    state.walletBacked && walletAddress
      ? wasWalletBacked
        ? {}
        : { budget_wallet: walletAddress }
      : { daily_budget_usd: state.dailyBudget.trim() === '' ? null : state.dailyBudget.trim(), ...(wasWalletBacked ? { budget_wallet: null } : {}) };
  return {
    name: state.name,
    models: state.allModels ? null : state.models,
    daily_requests: number(state.dailyRequests),
    ...budget,
    rate_limit: { burst: Number(state.burst), per_second: Number(state.perSecond) },
    // A date means "through the end of that day, UTC".
    expires_at: state.expires ? new Date(`${state.expires}T23:59:59.999Z`).toISOString() : null,
    packs_only: state.packsOnly,
  };
}

type Errors = Partial<Record<'name' | 'models' | 'daily_requests' | 'daily_budget_usd' | 'budget_wallet' | 'rate_limit' | 'expires_at' | 'form', string>>;

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
  onSubmit: (body: ReturnType<typeof toBody>) => void;
  onCancel: () => void;
  serverError?: { message: string; param: string | null } | null;
  pending: boolean;
  /** The account's linked wallet, which may back a key's daily budget. */
  linkedWallet?: string | null;
}) {
  const [state, setState] = useState<FormState>(() => initialState(initial));
  const [errors, setErrors] = useState<Errors>({});
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setState((s) => ({ ...s, [key]: value }));

  function submit(event: FormEvent) {
    event.preventDefault();
    const body = toBody(state, initial, linkedWallet);
    const parsed = (mode === 'create' ? createKeySchema : updateKeySchema).safeParse(body);
    if (!parsed.success) {
      const next: Errors = {};
      for (const issue of parsed.error.issues) {
        const field = (issue.path[0] as keyof Errors | undefined) ?? 'form';
        next[field] ??= issue.message;
      }
      setErrors(next);
      return;
    }
    setErrors({});
    onSubmit(body);
  }

  const serverParam = serverError?.param?.split('.')[0] as keyof Errors | undefined;
  const errorFor = (field: keyof Errors): ReactNode => errors[field] ?? (serverParam === field ? serverError?.message : undefined);

  return (
    <form onSubmit={submit} noValidate className="space-y-4" data-testid="key-form">
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
            {models.map((model) => (
              <label key={model.id} className="flex items-center gap-2 rounded px-1 py-0.5 text-sm hover:bg-slate-50">
                <input
                  type="checkbox"
                  checked={state.models.includes(model.id)}
                  onChange={(e) => set('models', e.target.checked ? [...state.models, model.id] : state.models.filter((m) => m !== model.id))}
                />
                <span className="font-mono text-xs">{model.id}</span>
                {model.status !== 'live' ? <span className="text-xs text-slate-400">({model.status})</span> : null}
              </label>
            ))}
          </div>
        ) : null}
        {errorFor('models') ? <p className="text-xs font-medium text-red-700">Choose at least one model, or all models.</p> : null}
      </fieldset>

      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Daily request quota" optional error={errorFor('daily_requests')} hint="Requests per UTC day. Empty: unlimited.">
          <Input type="number" inputMode="numeric" min={1} step={1} value={state.dailyRequests} onChange={(e) => set('dailyRequests', e.target.value)} data-testid="key-daily-requests" />
        </Field>
        <Field label="Daily budget (USD)" optional error={errorFor('daily_budget_usd')} hint="Dollars per UTC day. Empty: the balance is the limit.">
          <Input inputMode="decimal" placeholder={state.walletBacked ? 'from the wallet' : '5.00'} value={state.walletBacked ? '' : state.dailyBudget} disabled={state.walletBacked} onChange={(e) => set('dailyBudget', e.target.value)} data-testid="key-daily-budget" />
        </Field>
        <Field label="Rate limit: burst" error={errorFor('rate_limit')} hint="Requests allowed at once.">
          <Input type="number" inputMode="numeric" min={1} step={1} value={state.burst} onChange={(e) => set('burst', e.target.value)} data-testid="key-burst" />
        </Field>
        <Field label="Rate limit: refill per second" hint="Sustained requests per second.">
          <Input type="number" inputMode="decimal" min={0.01} step="any" value={state.perSecond} onChange={(e) => set('perSecond', e.target.value)} data-testid="key-refill" />
        </Field>
        <Field label="Expires" optional error={errorFor('expires_at')} hint="Last day the key works (UTC). Empty: never.">
          <Input type="date" value={state.expires} onChange={(e) => set('expires', e.target.value)} data-testid="key-expires" />
        </Field>
        {linkedWallet || initial?.budget_wallet ? (
          <div className="flex items-start gap-2 sm:col-span-2">
            <input id="wallet-backed" type="checkbox" checked={state.walletBacked} onChange={(e) => set('walletBacked', e.target.checked)} className="mt-0.5" data-testid="key-wallet-backed" />
            <label htmlFor="wallet-backed" className="text-sm text-slate-700">
              <span className="font-medium text-slate-800">Budget from my wallet</span>
              <span className="block text-xs text-slate-500">
                The daily budget follows the token balance of {initial?.budget_wallet?.address ?? linkedWallet}, read on chain at intervals, instead of a fixed amount.
              </span>
              {errorFor('budget_wallet') ? (
                <span role="alert" className="block text-xs text-red-700">
                  {errorFor('budget_wallet')}
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

      {errors.form || (serverError && !serverParam) ? (
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
