'use client';

import { formatUsdNumber } from '@/lib/money';

/** An account API error, with the server's message and code (`{ error: { message, code, param } }`). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message);
  }
}

/** fetch for the account API with the session cookie; JSON in and out, errors thrown as ApiError. */
export async function apiFetch<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? undefined : { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    cache: 'no-store',
  });
  const text = await response.text();
  const body = text ? (JSON.parse(text) as unknown) : null;
  if (!response.ok) {
    const error = (body as { error?: { message?: string; code?: string; param?: string | null } } | null)?.error;
    if (response.status === 401) throw new ApiError('Your session has ended. Sign in again.', 401, error?.code ?? null, null);
    throw new ApiError(error?.message ?? `Request failed (${response.status}).`, response.status, error?.code ?? null, error?.param ?? null);
  }
  return body as T;
}

export type KeyView = {
  id: string;
  name: string;
  kind: 'inference' | 'management';
  display: string;
  models: string[] | null;
  limits: { daily_requests: number | null; daily_budget_usd: number | null; rate_limit: { burst: number; per_second: number } };
  packs_only: boolean;
  /** A wallet-backed budget: the daily budget follows this wallet's on-chain balance, snapshotted. */
  budget_wallet: { address: string; balance_atomic: string | null; daily_budget_usd: number | null; snapshot_at: string | null } | null;
  usage_today: { day: string; requests: number; spent_usd: number };
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  created_at: string;
};

export type AccountView = {
  user: { id: string; email: string | null; wallet_address: string | null; name: string | null; role: 'user' | 'admin' };
  balance_usd: number;
  available_usd: number;
};

/** Dollars, in the one format of lib/money.ts: sub-cent amounts keep their digits ($0.000123). */
export const formatUsd = formatUsdNumber;

const dateFormat = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium' });
const dateTimeFormat = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });
export const formatDate = (iso: string) => dateFormat.format(new Date(iso));
export const formatDateTime = (iso: string) => dateTimeFormat.format(new Date(iso));
