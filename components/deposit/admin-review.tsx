'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { AdminTokenForm, useAdminToken } from '@/components/admin/admin-token';
import { ApiError, Badge, Button, Card, CardBody, CardHeader, EmptyState, EnsureQueryClient, ErrorState, Field, Input, Select, Spinner, Textarea, fetchJson } from '@/components/ui';
import { formatAtomic, STATUS_LABELS, STATUS_TONES, usd, type AdminDeposit, type DepositStatus } from './types';

const STATUSES: DepositStatus[] = ['needs_review', 'verifying', 'awaiting_payment', 'credited', 'rejected', 'expired'];

/**
 * The admin's deposit review queue. A signed-in admin (ADMIN_EMAILS) uses their session; otherwise
 * the admin API calls carry the admin token once one is entered (kept for this tab only).
 */
export function AdminDepositReview() {
  return (
    <EnsureQueryClient>
      <Review />
    </EnsureQueryClient>
  );
}

function Review() {
  const [token, setToken, headers] = useAdminToken();
  const [status, setStatus] = useState<DepositStatus>('needs_review');
  const queue = useQuery({
    queryKey: ['admin-deposits', status, token],
    queryFn: async () => (await fetchJson<{ data: AdminDeposit[] }>(`/api/admin/deposits?status=${status}`, { headers })).data,
    refetchInterval: 10_000,
    retry: false,
  });
  // A signed-in admin's session is enough; the token form appears only when the API refuses.
  const denied = queue.error instanceof ApiError && [401, 403, 404].includes(queue.error.status);

  return (
    <div className="space-y-6">
      <header className="flex flex-wrap items-end justify-between gap-4">
        <div className="max-w-2xl space-y-2">
          <h1 className="text-3xl font-semibold tracking-tight">Deposit review</h1>
          <p className="text-slate-600">
            Deposits the verifier would not credit on its own, with what it saw on chain. Approving credits the user in one ledger transaction that
            names you and your note; rejecting records the reason. Both are audited.
          </p>
        </div>
        <Field label="Show" className="w-56">
          <Select value={status} onChange={(e) => setStatus(e.target.value as DepositStatus)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {STATUS_LABELS[s]}
              </option>
            ))}
          </Select>
        </Field>
      </header>

      {denied ? <AdminTokenForm token={token} setToken={setToken} message={queue.error?.message} /> : null}

      {queue.isPending ? (
        <p className="flex items-center gap-2 text-sm text-slate-500" role="status">
          <Spinner /> Loading…
        </p>
      ) : queue.isError ? (
        denied ? null : <ErrorState message={queue.error.message} />
      ) : queue.data.length === 0 ? (
        <EmptyState title={`No deposits ${STATUS_LABELS[status].toLowerCase()}`} message="The queue is empty." />
      ) : (
        <ul className="space-y-4" data-testid="review-queue">
          {queue.data.map((deposit) => (
            <li key={deposit.id}>
              <ReviewItem deposit={deposit} headers={headers} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const FACT_LABELS: Array<[string, string]> = [
  ['tx_hash', 'Transaction'],
  ['receipt_status', 'Receipt'],
  ['block_number', 'Block'],
  ['confirmations', 'Confirmations'],
  ['expected_atomic', 'Expected (atomic)'],
  ['observed_atomic', 'Observed (atomic)'],
  ['sender', 'Sender'],
  ['linked_wallet', 'Linked wallet'],
  ['found_on_network', 'Found on network'],
  ['last_error', 'Last RPC error'],
];

function ReviewItem({ deposit, headers }: { deposit: AdminDeposit; headers: Record<string, string> | undefined }) {
  const queryClient = useQueryClient();
  const [note, setNote] = useState('');
  const [credit, setCredit] = useState('');
  const [fee, setFee] = useState('');
  const act = useMutation({
    mutationFn: ({ action, body }: { action: 'approve' | 'reject'; body: Record<string, unknown> }) =>
      fetchJson<AdminDeposit>(`/api/admin/deposits/${deposit.id}/${action}`, { method: 'POST', headers, body: JSON.stringify(body) }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['admin-deposits'] }),
  });
  const transfers = Array.isArray(deposit.facts.transfers) ? (deposit.facts.transfers as Array<Record<string, unknown>>) : [];

  return (
    <Card data-testid="review-item" data-deposit-id={deposit.id}>
      <CardHeader
        title={`${usd(deposit.credit_usd)} credit · ${deposit.asset} on ${deposit.network_name}`}
        description={`${deposit.user.email ?? deposit.user.id}${deposit.user.wallet_address ? ` · wallet ${deposit.user.wallet_address}` : ''} · created ${new Date(deposit.created_at).toLocaleString()}`}
        actions={<Badge tone={STATUS_TONES[deposit.status]}>{STATUS_LABELS[deposit.status]}</Badge>}
      />
      <CardBody className="space-y-4">
        {deposit.review ? (
          <p className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900">
            <span className="font-medium">{deposit.review.reason}</span>: {deposit.review.message}
            {deposit.review.note ? ` — ${deposit.reviewed_by}: ${deposit.review.note}` : ''}
          </p>
        ) : null}
        <dl className="grid gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
          <dt className="text-slate-500">Gross expected</dt>
          <dd>
            {formatAtomic(deposit.gross_atomic, deposit.decimals)} {deposit.asset} (credit {usd(deposit.credit_usd)} + fee {usd(deposit.fee_usd)})
          </dd>
          {FACT_LABELS.filter(([key]) => deposit.facts[key] !== undefined && deposit.facts[key] !== null).map(([key, label]) => (
            <div key={key} className="contents">
              <dt className="text-slate-500">{label}</dt>
              <dd className="break-all font-mono text-xs leading-5">{String(deposit.facts[key])}</dd>
            </div>
          ))}
        </dl>
        {transfers.length ? (
          <div role="region" aria-label="Transfer logs" tabIndex={0} className="overflow-x-auto focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-600">
            <table className="w-full text-left text-xs">
              <caption className="mb-1 text-left text-sm text-slate-500">Transfer logs in the transaction</caption>
              <thead className="text-slate-500">
                <tr>
                  <th className="py-1 pr-3">Log</th>
                  <th className="py-1 pr-3">Token</th>
                  <th className="py-1 pr-3">From</th>
                  <th className="py-1 pr-3">To</th>
                  <th className="py-1 text-right">Value</th>
                </tr>
              </thead>
              <tbody className="font-mono">
                {transfers.map((t) => (
                  <tr key={String(t.log_index)}>
                    <td className="py-1 pr-3">{String(t.log_index)}</td>
                    <td className="py-1 pr-3">{t.asset ? String(t.asset) : String(t.token)}</td>
                    <td className="break-all py-1 pr-3">{String(t.from)}</td>
                    <td className="break-all py-1 pr-3">{String(t.to)}</td>
                    <td className="py-1 text-right">{formatAtomic(String(t.value_atomic), 6)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {deposit.status === 'needs_review' || deposit.status === 'verifying' ? (
          <div className="grid gap-3 sm:grid-cols-[1fr_10rem_10rem]">
            <Field label="Note or reason" hint="Recorded in the ledger (approve) or on the deposit (reject), and in the audit log.">
              <Textarea rows={2} value={note} onChange={(e) => setNote(e.target.value)} />
            </Field>
            <Field label="Credit instead (USD)" optional hint={deposit.observed_usd !== null ? `${usd(deposit.observed_usd)} arrived` : undefined}>
              <Input inputMode="decimal" value={credit} onChange={(e) => setCredit(e.target.value)} placeholder={String(deposit.credit_usd)} />
            </Field>
            <Field label="Fee instead (USD)" optional>
              <Input inputMode="decimal" value={fee} onChange={(e) => setFee(e.target.value)} placeholder={String(deposit.fee_usd)} />
            </Field>
            <div className="flex gap-2 sm:col-span-3">
              {deposit.status === 'needs_review' ? (
                <Button
                  disabled={!note.trim()}
                  loading={act.isPending && act.variables?.action === 'approve'}
                  onClick={() => act.mutate({ action: 'approve', body: { note: note.trim(), ...(credit.trim() ? { credit_usd: credit.trim() } : {}), ...(fee.trim() ? { fee_usd: fee.trim() } : {}) } })}
                >
                  Approve and credit
                </Button>
              ) : null}
              <Button variant="danger" disabled={!note.trim()} loading={act.isPending && act.variables?.action === 'reject'} onClick={() => act.mutate({ action: 'reject', body: { reason: note.trim() } })}>
                Reject
              </Button>
            </div>
            {act.isError ? <ErrorState className="sm:col-span-3" message={act.error.message} /> : null}
          </div>
        ) : null}
      </CardBody>
    </Card>
  );
}
