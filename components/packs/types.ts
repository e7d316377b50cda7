// The packs and account APIs as the shop reads them (contract: GET /api/packs, GET /api/lots,
// GET /api/account, POST /api/packs/:id/purchase). Money fields are numbers of USD.

import type { LotView } from '@/lib/packs/lots';
import type { PackView } from '@/lib/packs/packs';

// The server's own view types (type-only imports: nothing of the server is bundled).
export type Pack = PackView;
export type Lot = LotView;
export type Scope = PackView['scope'];

export type Account = {
  user: { id: string; email: string | null; wallet_address: string | null; name: string | null; role: string };
  balance_usd: number;
  available_usd: number;
};

export type List<T> = { object: 'list'; data: T[] };

export type PurchaseResult = { lot: Lot; balance_usd: number };

/** Display names for scope ids, from the catalog. */
export type ScopeNames = { providers: Record<string, string>; models: Record<string, string> };

export function scopeLabel(scope: Scope | Lot['scope'], names: ScopeNames): string {
  if ('playground_only' in scope && scope.playground_only) return 'Playground only (not API keys)';
  if (scope.model) return `${names.models[scope.model] ?? scope.model} only`;
  if (scope.provider) return `${names.providers[scope.provider] ?? scope.provider} models only`;
  return 'Any model';
}

const usdFormat = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** USD from the API (a number) for display, to the cent. */
export function formatUsdNumber(value: number): string {
  return usdFormat.format(value);
}

export const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
