'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { AdminTokenForm, useAdminToken } from '@/components/admin/admin-token';
import { ApiError, Badge, Button, Card, CardBody, CardHeader, ConfirmDialog, EmptyState, EnsureQueryClient, ErrorState, Spinner, fetchJson, type BadgeTone } from '@/components/ui';
import { formatUsdNumber } from '@/lib/money';

type PayoutStatus = 'pending' | 'signed' | 'confirmed' | 'failed';

type AdminPayout = {
  id: string;
  user: { id: string; email: string | null };
  amount_usd: number;
  status: PayoutStatus;
  to_address: string;
  chain_id: number;
  tx_hash: string | null;
  tx_url: string | null;
  period: string;
  error: string | null;
  created_at: string;
  confirmed_at: string | null;
};

type PayoutList = { data: AdminPayout[]; payouts_enabled: boolean; payouts_reason: string | null };

type RunResult = { period: string; created: number; confirmed: number; failed: number; waiting: number; skipped: Array<{ userId: string; reason: 'no_wallet' | 'not_signed' }> };

const STATUS: Record<PayoutStatus, { label: string; tone: BadgeTone }> = {
  pending: { label: 'Pending', tone: 'info' },
  signed: { label: 'Signed, sent', tone: 'info' },
  confirmed: { label: 'Confirmed', tone: 'success' },
  failed: { label: 'Failed, returned', tone: 'danger' },
};

const SKIP_REASONS = { no_wallet: 'no linked wallet', not_signed: 'could not be signed (see its error)' } as const;

/**
 * Seller payouts for the operator: the recent payouts with status and transaction, and "Run payouts
 * now" (the weekly run, on demand). Auth as on the deposit review: an admin session, or ADMIN_TOKEN.
 */
export function AdminPayouts() {
  return (
    <EnsureQueryClient>
      <Payouts />
    </EnsureQueryClient>
  );
}

function Payouts() {
  const queryClient = useQueryClient();
  const [token, setToken, headers] = useAdminToken();
  const [confirming, setConfirming] = useState(false);
  const list = useQuery({
    queryKey: ['admin-payouts', token],
    queryFn: () => fetchJson<PayoutList>('/api/admin/payouts', { headers }),
    retry: false,
  });
  const run = useMutation({
    mutationFn: () => fetchJson<RunResult>('/api/admin/payouts/run', { method: 'POST', headers, body: '{}' }),
    onSuccess: () => {
      setConfirming(false);
      void queryClient.invalidateQueries({ queryKey: ['admin-payouts'] });
    },
  });
  const denied = list.error instanceof ApiError && [401, 403, 404].includes(list.error.status);
  const enabled = list.data?.payouts_enabled ?? false;

  return (
    <div className="space-y-6">
      <header className="flex flex-wrap items-end justify-between gap-4">
        <div className="max-w-2xl space-y-2">
          <h1 className="text-3xl font-semibold tracking-tight">Seller payouts</h1>
          <p className="text-slate-600">
            Sellers&apos; available earnings are paid in USDC to their linked wallets every Monday (UTC). Running now does the same for this week: each
            seller is paid at most once per week, and payouts left unfinished by an earlier run are carried to the chain first. Audited.
          </p>
        </div>
        <Button onClick={() => setConfirming(true)} disabled={!enabled} data-testid="run-payouts">
          Run payouts now
        </Button>
      </header>

      {denied ? <AdminTokenForm token={token} setToken={setToken} message={list.error?.message} /> : null}
      {list.data && !enabled ? (
        <p role="note" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200" data-testid="payouts-disabled">
          Payouts are not set up on this instance: {list.data.payouts_reason}.
        </p>
      ) : null}

      {run.data ? <RunSummary result={run.data} /> : null}

      <ConfirmDialog
        open={confirming}
        onClose={() => {
          setConfirming(false);
          run.reset();
        }}
        onConfirm={() => run.mutate()}
        title="Run this week's payouts now?"
        description="Every seller with available earnings at or above the minimum and a linked wallet is sent USDC on chain. This cannot be undone."
        confirmLabel="Send payouts"
        loading={run.isPending}
        error={run.isError ? run.error.message : null}
      />

      <Card>
        <CardHeader title="Recent payouts" description="Newest first." />
        <CardBody>
          {list.isPending ? (
            <p className="flex items-center gap-2 text-sm text-slate-500" role="status">
              <Spinner /> Loading…
            </p>
          ) : list.isError ? (
            denied ? null : <ErrorState message={list.error.message} />
          ) : list.data.data.length === 0 ? (
            <EmptyState title="No payouts yet" message="Payouts appear here once a run has paid a seller." />
          ) : (
            <ul className="divide-y divide-slate-100 text-sm" data-testid="admin-payout-list">
              {list.data.data.map((payout) => (
                <li key={payout.id} className="flex flex-col gap-1 py-3 sm:flex-row sm:items-start sm:justify-between" data-testid="admin-payout-row" data-payout-id={payout.id} data-status={payout.status}>
                  <div className="min-w-0 space-y-0.5">
                    <p className="font-medium tabular-nums text-slate-900">
                      {formatUsdNumber(payout.amount_usd)} <span className="font-normal text-slate-600">to {payout.user.email ?? payout.user.id} · {payout.period}</span>
                    </p>
                    <p className="break-all font-mono text-xs text-slate-600">Wallet {payout.to_address}</p>
                    {payout.tx_hash ? (
                      <p className="break-all font-mono text-xs text-slate-600" data-testid="admin-payout-tx">
                        {payout.tx_url ? (
                          <a href={payout.tx_url} className="underline" target="_blank" rel="noreferrer">
                            {payout.tx_hash}
                          </a>
                        ) : (
                          payout.tx_hash
                        )}
                      </p>
                    ) : null}
                    {payout.error && payout.status !== 'confirmed' ? <p className="text-xs text-red-700">{payout.error}</p> : null}
                  </div>
                  <Badge tone={STATUS[payout.status].tone} className="self-start">
                    {STATUS[payout.status].label}
                  </Badge>
                </li>
              ))}
            </ul>
          )}
        </CardBody>
      </Card>
    </div>
  );
}

function RunSummary({ result }: { result: RunResult }) {
  return (
    <div role="status" className="rounded-lg bg-emerald-50 px-3 py-2 text-sm text-emerald-900 ring-1 ring-emerald-200" data-testid="payout-run-result">
      Run for {result.period}: {result.created} created, {result.confirmed} confirmed, {result.waiting} waiting for the chain, {result.failed} failed.
      {result.skipped.length ? ` Skipped ${result.skipped.length}: ${result.skipped.map((s) => `${s.userId} (${SKIP_REASONS[s.reason]})`).join(', ')}.` : ''}
    </div>
  );
}
