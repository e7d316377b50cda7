import type { KeyView } from './api';

/** What the key form holds, as the user typed it. */
export type KeyFormValues = {
  name: string;
  allModels: boolean;
  models: string[];
  dailyRequests: string;
  dailyBudget: string;
  burst: string;
  perSecond: string;
  /** YYYY-MM-DD from a date input, or empty for never. */
  expires: string;
  packsOnly: boolean;
  /** The daily budget follows the linked wallet's on-chain balance instead of a fixed amount. */
  walletBacked: boolean;
};

export type KeyFormField = 'name' | 'models' | 'dailyRequests' | 'dailyBudget' | 'burst' | 'perSecond' | 'expires' | 'walletBacked';
export type KeyFormErrors = Partial<Record<KeyFormField | 'form', string>>;

/** The server's parameter names (`param` of an API error, first segment) → the field that shows it. */
export const FIELD_OF_PARAM: Record<string, KeyFormField> = {
  name: 'name',
  models: 'models',
  daily_requests: 'dailyRequests',
  daily_budget_usd: 'dailyBudget',
  'rate_limit.burst': 'burst',
  'rate_limit.per_second': 'perSecond',
  rate_limit: 'burst',
  expires_at: 'expires',
  budget_wallet: 'walletBacked',
};

export function initialKeyFormValues(key?: KeyView): KeyFormValues {
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

/** "$1,250.50" → "1250.50": people type the symbol and separators; they are not part of the amount. */
const plainAmount = (text: string) => text.trim().replace(/^\$\s*/, '').replaceAll(',', '');

/**
 * Checks the form in the user's words, every field at once (the server's schema, which speaks to
 * API clients, checks again). Limits mirror lib/account/schemas.ts. `now` decides what "today" is:
 * an expiry date means "through the end of that day, UTC". Editing (`initial`), an expiry left as it
 * was is not checked: it is not sent (keyFormBody), and an expired key may still be renamed.
 */
export function validateKeyForm(values: KeyFormValues, now = new Date(), initial?: KeyView): KeyFormErrors {
  const errors: KeyFormErrors = {};
  const name = values.name.trim();
  if (name === '') errors.name = 'Give the key a name, like the app or agent that will use it.';
  else if (name.length > 100) errors.name = 'Keep the name to 100 characters or fewer.';

  if (!values.allModels && values.models.length === 0) errors.models = 'Choose at least one model, or allow all models.';

  const requests = values.dailyRequests.trim().replaceAll(',', '');
  if (requests !== '') {
    if (!/^\d+$/.test(requests) || Number(requests) < 1) errors.dailyRequests = 'Enter a whole number of requests, 1 or more, or leave it empty for no quota.';
    else if (Number(requests) > 10_000_000) errors.dailyRequests = 'The daily request quota can be at most 10,000,000.';
  }

  const budget = plainAmount(values.dailyBudget);
  if (!values.walletBacked && budget !== '') {
    if (!/^\d{1,12}(\.\d{1,6})?$/.test(budget)) errors.dailyBudget = 'Enter the budget in dollars, like 5 or 2.50, or leave it empty for no budget.';
    else if (Number(budget) === 0) errors.dailyBudget = 'A budget of $0 would stop every call: enter more than $0, or leave it empty.';
  }

  const burst = values.burst.trim();
  if (!/^\d+$/.test(burst) || Number(burst) < 1 || Number(burst) > 10_000) errors.burst = 'Enter a whole number of requests from 1 to 10,000.';

  const perSecond = Number(values.perSecond.trim());
  if (values.perSecond.trim() === '' || !Number.isFinite(perSecond) || perSecond <= 0 || perSecond > 1_000) {
    errors.perSecond = 'Enter how many requests per second, more than 0 and at most 1,000 (like 0.5).';
  }

  if (values.expires !== '' && (!initial || values.expires !== initialKeyFormValues(initial).expires)) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(values.expires) || Number.isNaN(Date.parse(`${values.expires}T00:00:00Z`))) errors.expires = 'Enter a date, or leave it empty for a key that never expires.';
    else if (values.expires < now.toISOString().slice(0, 10)) errors.expires = 'Choose today or a later date, or leave it empty for a key that never expires.';
  }
  return errors;
}

/**
 * The request body the API takes. A wallet-backed key sends its wallet and no budget (the wallet's
 * balance sets it); turning the wallet off sends `budget_wallet: null` with the fixed budget;
 * otherwise neither side of the wallet is touched.
 */
export function keyFormBody(values: KeyFormValues, initial: KeyView | undefined, linkedWallet: string | null) {
  const number = (text: string) => (text.trim() === '' ? null : Number(text.trim().replaceAll(',', '')));
  const wasWalletBacked = initial?.budget_wallet != null;
  const walletAddress = initial?.budget_wallet?.address ?? linkedWallet;
  const budgetText = plainAmount(values.dailyBudget);
  // Re-sending the wallet of a key it already backs would restart its snapshot: leave it alone.
  const budget =
    values.walletBacked && walletAddress
      ? wasWalletBacked
        ? {}
        : { budget_wallet: walletAddress }
      : { daily_budget_usd: budgetText === '' ? null : budgetText, ...(wasWalletBacked ? { budget_wallet: null } : {}) };
  // Editing: the date field shows only the day of the expiry, which may be mid-day (set through the
  // API); sending it back unchanged would move it to the end of that day, so it goes only if changed.
  const expiresChanged = !initial || values.expires !== initialKeyFormValues(initial).expires;
  return {
    name: values.name,
    models: values.allModels ? null : values.models,
    daily_requests: number(values.dailyRequests),
    ...budget,
    rate_limit: { burst: Number(values.burst), per_second: Number(values.perSecond) },
    // A date means "through the end of that day, UTC".
    ...(expiresChanged ? { expires_at: values.expires ? new Date(`${values.expires}T23:59:59.999Z`).toISOString() : null } : {}),
    packs_only: values.packsOnly,
  };
}

export type KeyFormBody = ReturnType<typeof keyFormBody>;

/**
 * The schema's first complaint, for the form's fallback message (a case the plain-words checks
 * above missed): "'rate_limit.burst' must be at least 1", so the user learns which value to fix.
 */
export function issueText(issue: { path: readonly PropertyKey[]; message: string } | undefined): string {
  if (!issue) return 'a value was refused';
  const path = issue.path.map(String).join('.');
  return path ? `'${path}' ${issue.message}` : issue.message;
}
