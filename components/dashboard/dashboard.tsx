'use client';

import Link from 'next/link';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Badge, Button, buttonClasses, Card, CardBody, CardHeader, EmptyState, ErrorState, ProgressBar, Spinner } from '@/components/ui';
import { apiFetch, formatDateTime, formatUsd, type AccountView, type KeyView } from '@/components/keys/api';
import { limitRace } from './limits';
import { SignInMethods } from './sign-in-methods';
import { rangeStart, UsageChart, type Range, type UsageRow } from './usage-chart';
import { WelcomeCreditNote, type WelcomeCredit } from './welcome-credit';

function Loading({ label }: { label: string }) {
  return (
    <div className="flex items-center gap-2 py-6 text-sm text-slate-500" role="status">
      <Spinner /> {label}
    </div>
  );
}

type LotView = { id: string; status: 'ACTIVE' | 'EXHAUSTED' | 'EXPIRED'; remaining_usd: number; scope?: { playground_only?: boolean } };

function BalanceCard() {
  const account = useQuery({ queryKey: ['account'], queryFn: () => apiFetch<AccountView & { welcome_credit?: WelcomeCredit | null }>('/api/account') });
  const lots = useQuery({ queryKey: ['lots'], queryFn: () => apiFetch<{ data: LotView[] }>('/api/lots').then((r) => r.data) });
  // Pack credit an API key can spend; playground-only credit (the welcome credit) is shown apart.
  const active = (lots.data ?? []).filter((lot) => lot.status === 'ACTIVE' && !lot.scope?.playground_only);
  const inPacks = active.reduce((sum, lot) => sum + lot.remaining_usd, 0);
  return (
    <Card>
      <CardBody className="space-y-1 py-5">
        <p className="text-sm font-medium text-slate-500">Balance</p>
        {account.isPending ? (
          <div aria-hidden className="h-9 w-32 animate-pulse rounded bg-slate-100" />
        ) : account.isError ? (
          <p className="text-sm text-red-700">{account.error.message}</p>
        ) : (
          <>
            <p className="text-3xl font-semibold tracking-tight tabular-nums" data-testid="balance">
              {formatUsd(account.data.balance_usd)}
            </p>
            <p className="text-xs text-slate-500">
              {account.data.available_usd < account.data.balance_usd ? `${formatUsd(account.data.balance_usd - account.data.available_usd)} reserved by calls in flight · ` : ''}
              prepaid credit, spent per token
            </p>
            {active.length > 0 ? (
              <p className="text-sm text-slate-600" data-testid="pack-credit">
                + {formatUsd(inPacks)} in {active.length} active pack{active.length === 1 ? '' : 's'}, used first
              </p>
            ) : null}
            <WelcomeCreditNote credit={account.data.welcome_credit} format={formatUsd} showPlaygroundLink className="pt-1" />
          </>
        )}
        <div className="flex flex-wrap gap-2 pt-3">
          <Link href="/deposit" className={buttonClasses({ size: 'sm' })}>
            Add funds
          </Link>
          <Link href="/packs" className={buttonClasses({ size: 'sm', variant: 'secondary' })}>
            Buy credit packs
          </Link>
          <Link href="/keys" className={buttonClasses({ size: 'sm', variant: 'secondary' })}>
            Manage keys
          </Link>
        </div>
      </CardBody>
    </Card>
  );
}

function KeyLimits({ keyView }: { keyView: KeyView }) {
  const race = limitRace(keyView);
  const { daily_requests: quota, daily_budget_usd: budget } = keyView.limits;
  const tone = (share: number | null, isFirst: boolean) => (share !== null && share >= 1 ? 'danger' : isFirst && share !== null && share >= 0.8 ? 'warning' : 'brand');
  return (
    <li className="space-y-3 py-4" data-testid="key-limits" data-key-id={keyView.id} data-first={race.first}>
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <p className="font-medium text-slate-900">
          {keyView.name} <span className="font-mono text-xs font-normal text-slate-500">{keyView.display}</span>
        </p>
        <p className="text-xs text-slate-500" data-testid="limit-race">
          {race.first !== 'none' ? <Badge tone={race.first === 'requests' ? 'brand' : 'warning'}>{race.first === 'requests' ? 'quota first' : 'budget first'}</Badge> : null} {race.sentence}
        </p>
      </div>
      <div className="grid gap-4 sm:grid-cols-2">
        <div className="space-y-1.5">
          <div className="flex justify-between text-xs text-slate-600">
            <span>Requests today</span>
            <span className="tabular-nums" data-testid="requests-used">
              {keyView.usage_today.requests.toLocaleString('en-US')} of {quota === null ? 'unlimited' : quota.toLocaleString('en-US')}
            </span>
          </div>
          <ProgressBar label={`${keyView.name}: requests today`} value={keyView.usage_today.requests} max={quota ?? 0} valueText={`${keyView.usage_today.requests} of ${quota ?? 'unlimited'} requests`} tone={tone(race.requestsUsed, race.first === 'requests')} />
        </div>
        <div className="space-y-1.5">
          <div className="flex justify-between text-xs text-slate-600">
            <span>Spent today</span>
            <span className="tabular-nums" data-testid="budget-used">
              {formatUsd(keyView.usage_today.spent_usd)} of {budget === null ? 'no budget' : formatUsd(budget)}
            </span>
          </div>
          <ProgressBar label={`${keyView.name}: dollars spent today`} value={keyView.usage_today.spent_usd} max={budget ?? 0} valueText={`${formatUsd(keyView.usage_today.spent_usd)} of ${budget === null ? 'no budget' : formatUsd(budget)}`} tone={tone(race.budgetUsed, race.first === 'budget')} />
        </div>
      </div>
      {keyView.budget_wallet ? (
        <p className="text-xs text-slate-500" data-testid="budget-wallet">
          Budget backed by wallet <span className="font-mono">{shortAddress(keyView.budget_wallet.address)}</span>
          {keyView.budget_wallet.snapshot_at
            ? `: ${keyView.budget_wallet.daily_budget_usd === null ? 'no budget' : `${formatUsd(keyView.budget_wallet.daily_budget_usd)} a day`} from its balance at ${formatDateTime(keyView.budget_wallet.snapshot_at)}.`
            : ': waiting for the first balance snapshot.'}
        </p>
      ) : null}
    </li>
  );
}

const shortAddress = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;

function LimitsCard() {
  const keys = useQuery({ queryKey: ['keys'], queryFn: () => apiFetch<{ data: KeyView[] }>('/api/keys').then((r) => r.data) });
  const active = (keys.data ?? []).filter((k) => k.kind === 'inference' && !k.revoked_at);
  return (
    <Card>
      <CardHeader title="Today's limits per key" description="Each key stops at whichever daily limit runs out first: its request quota or its dollar budget. Both reset at 00:00 UTC." />
      <CardBody>
        {keys.isPending ? (
          <Loading label="Loading keys…" />
        ) : keys.isError ? (
          <ErrorState title="Could not load your keys" message={keys.error.message} />
        ) : active.length === 0 ? (
          <EmptyState title="No active keys" message="Create a key to call models; its limits show here." action={<Link href="/keys" className={buttonClasses({ size: 'sm' })}>Create a key</Link>} />
        ) : (
          <ul className="divide-y divide-slate-100">
            {active.map((key) => (
              <KeyLimits key={key.id} keyView={key} />
            ))}
          </ul>
        )}
      </CardBody>
    </Card>
  );
}

function RecentRequests({ keyNames }: { keyNames: Map<string, string> }) {
  const usage = useQuery({ queryKey: ['usage-recent'], queryFn: () => apiFetch<{ data: UsageRow[] }>('/api/usage?limit=15').then((r) => r.data) });
  return (
    <Card>
      <CardHeader title="Recent requests" description="The last 15 calls, newest first." />
      {usage.isPending ? (
        <CardBody>
          <Loading label="Loading requests…" />
        </CardBody>
      ) : usage.isError ? (
        <CardBody>
          <ErrorState title="Could not load requests" message={usage.error.message} />
        </CardBody>
      ) : usage.data.length === 0 ? (
        <CardBody>
          <EmptyState title="No requests yet" message="Your first call with one of your keys appears here, with its tokens and cost." />
        </CardBody>
      ) : (
        // Wider than a phone: the table scrolls in its own box, which a keyboard must be able to reach (axe scrollable-region-focusable).
        <div role="region" aria-label="Recent requests" tabIndex={0} className="overflow-x-auto focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-600">
          <table className="w-full min-w-[720px] text-left text-sm" data-testid="recent-requests">
            <caption className="sr-only">Recent requests with model, key, tokens, cost and status</caption>
            <thead className="border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-500 uppercase">
              <tr>
                <th scope="col" className="px-4 py-2">Time</th>
                <th scope="col" className="px-4 py-2">Model</th>
                <th scope="col" className="px-4 py-2">Key</th>
                <th scope="col" className="px-4 py-2 text-right">Tokens in / out</th>
                <th scope="col" className="px-4 py-2 text-right">Cost</th>
                <th scope="col" className="px-4 py-2 text-right">Latency</th>
                <th scope="col" className="px-4 py-2">Status</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {usage.data.map((row) => (
                <tr key={row.id} data-testid="request-row">
                  <td className="px-4 py-2 whitespace-nowrap text-slate-600">{formatDateTime(row.created_at)}</td>
                  <td className="px-4 py-2 font-mono text-xs">{row.model}</td>
                  <td className="px-4 py-2 text-slate-600">{row.key_id ? (keyNames.get(row.key_id) ?? 'deleted key') : 'pay per request'}</td>
                  <td className="px-4 py-2 text-right tabular-nums">
                    {row.prompt_tokens.toLocaleString('en-US')} / {row.completion_tokens.toLocaleString('en-US')}
                  </td>
                  <td className="px-4 py-2 text-right tabular-nums">{formatUsd(row.cost_usd)}</td>
                  <td className="px-4 py-2 text-right text-slate-600 tabular-nums">{row.latency_ms} ms</td>
                  <td className="px-4 py-2">
                    <Badge tone={row.status === 'success' ? 'success' : row.status === 'client_aborted' ? 'warning' : 'danger'}>{row.status.replace('_', ' ')}</Badge>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** Balance, both daily limits per key, usage over time, recent requests and the CSV export. */
export function Dashboard({ notice }: { notice: string | null }) {
  const [range, setRange] = useState<Range>('7d');
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['keys'], queryFn: () => apiFetch<{ data: KeyView[] }>('/api/keys').then((r) => r.data) });
  const keyNames = new Map((keys.data ?? []).map((k) => [k.id, k.name]));
  const exportHref = `/api/usage/export?from=${encodeURIComponent(range === '24h' ? rangeStart(range).toISOString() : rangeStart(range).toISOString().slice(0, 10))}`;
  return (
    <div className="space-y-6">
      <header className="flex flex-wrap items-end justify-between gap-4">
        <div className="space-y-1">
          <h1 className="text-3xl font-semibold tracking-tight">Dashboard</h1>
          <p className="text-slate-600">Your credit, your keys&apos; limits today, and what your calls cost.</p>
        </div>
        <a href={exportHref} className={buttonClasses({ variant: 'secondary', size: 'sm' })} data-testid="export-csv" download>
          Export CSV ({range === '24h' ? 'last 24 h' : `last ${range.replace('d', ' days')}`})
        </a>
      </header>
      {notice ? (
        <p role="status" className="rounded-xl border border-brand-100 bg-brand-50 px-4 py-3 text-sm text-brand-700">
          {notice}
        </p>
      ) : null}
      <div className="grid gap-6 lg:grid-cols-3">
        <BalanceCard />
        <div className="lg:col-span-2">
          <LimitsCard />
        </div>
      </div>
      <UsageChart range={range} onRangeChange={setRange} />
      <RecentRequests keyNames={keyNames} />
      <SignInMethods />
      <div className="flex justify-end">
        <Button variant="ghost" size="sm" onClick={() => void queryClient.invalidateQueries()} data-testid="refresh">
          Refresh
        </Button>
      </div>
    </div>
  );
}
