'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useMemo } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Badge, Button, Card, CardBody, CardHeader, EmptyState, ErrorState, Spinner, type BadgeTone } from '@/components/ui';
import { formatUsdNumber } from '@/lib/money';
import { getEarnings, providerName, type EarningsView, type PayoutStatus } from './api';

const STATUS: Record<PayoutStatus, { label: string; tone: BadgeTone }> = {
  pending: { label: 'Preparing', tone: 'info' },
  signed: { label: 'Sending', tone: 'info' },
  confirmed: { label: 'Paid', tone: 'success' },
  failed: { label: 'Failed, returned to earnings', tone: 'danger' },
};

// Distinguishable for the common colour-vision deficiencies (Okabe–Ito), and legible on white.
const POOL_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

const dateFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const shortHash = (hash: string) => `${hash.slice(0, 10)}…${hash.slice(-6)}`;
const shortAddress = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;

function Stat({ label, value, hint, testId }: { label: string; value: number; hint: string; testId: string }) {
  return (
    <div className="rounded-lg bg-slate-50 px-4 py-3">
      <dt className="text-sm text-slate-600">{label}</dt>
      <dd className="text-2xl font-semibold tabular-nums text-slate-900" data-testid={testId}>
        {formatUsdNumber(value)}
      </dd>
      <dd className="text-xs text-slate-600">{hint}</dd>
    </div>
  );
}

function PayoutTarget({ data }: { data: EarningsView }) {
  if (!data.payouts_enabled) {
    return <p data-testid="payouts-off">Payouts are not switched on on this instance yet; your earnings are kept until they are.</p>;
  }
  const next = data.next_payout_at ? dateFormat.format(new Date(data.next_payout_at)) : null;
  if (!data.wallet_address) {
    return (
      <p role="note" className="rounded-lg bg-amber-50 px-3 py-2 text-amber-900 ring-1 ring-amber-200" data-testid="payout-no-wallet">
        <strong>Link a wallet to be paid.</strong> Payouts are sent in USDC on {data.network} to the wallet linked to your account, and you signed in without one. Link it under{' '}
        <Link href="/dashboard" className="font-medium underline">
          sign-in methods on your dashboard
        </Link>
        ; until then your earnings wait here.
      </p>
    );
  }
  return (
    <p data-testid="payout-target">
      Next payout: <strong>{next}</strong> (weekly, Mondays UTC), in USDC on {data.network} to <span className="font-mono" title={data.wallet_address}>{shortAddress(data.wallet_address)}</span>, when at least{' '}
      {formatUsdNumber(data.minimum_payout_usd)} is available.
    </p>
  );
}

function DrawDownChart({ data }: { data: EarningsView['draw_down'] }) {
  const { points, series } = useMemo(() => {
    const series = data.map((pool, i) => ({ key: pool.pool_id, name: `${providerName(pool.provider)} …${pool.key_hint}`, color: POOL_COLORS[i % POOL_COLORS.length]! }));
    const days = data[0]?.days.map((d) => d.day) ?? [];
    const points = days.map((day, i) => {
      const point: Record<string, number | string> = { label: day.slice(5) };
      for (const pool of data) point[pool.pool_id] = pool.days[i]?.drawn_usd ?? 0;
      return point;
    });
    return { points, series };
  }, [data]);
  const total = data.reduce((sum, pool) => sum + pool.days.reduce((s, d) => s + d.drawn_usd, 0), 0);
  if (data.length === 0) return <EmptyState title="Nothing drawn yet" message="Once buyers use a pool you list, what they draw from it shows here by day." className="py-8" />;
  return (
    <figure className="space-y-3" aria-labelledby="drawdown-caption">
      <figcaption id="drawdown-caption" className="text-sm text-slate-600">
        Usage served from your pools at list price, per UTC day, last 30 days: {formatUsdNumber(Math.round(total * 1e6) / 1e6)} in all.
      </figcaption>
      {/* Hidden from assistive technology (the table below says the same), so the chart must not take focus either: no accessibility layer. */}
      <div className="h-64 w-full" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={points} margin={{ top: 8, right: 8, left: 0, bottom: 0 }} accessibilityLayer={false}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="label" tick={{ fontSize: 11, fill: '#475569' }} interval="preserveStartEnd" minTickGap={16} />
            <YAxis tick={{ fontSize: 11, fill: '#475569' }} width={56} tickFormatter={(v: number) => `$${v}`} />
            <Tooltip formatter={(value) => formatUsdNumber(Number(value))} />
            <Legend wrapperStyle={{ fontSize: 12, color: '#334155' }} />
            {series.map((s) => (
              <Bar key={s.key} dataKey={s.key} name={s.name} stackId="pools" fill={s.color} />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <details className="text-sm">
        <summary className="cursor-pointer text-slate-700">Show as a table</summary>
        <div className="mt-2 overflow-x-auto">
          <table className="w-full text-left text-xs" data-testid="drawdown-table">
            <thead>
              <tr>
                <th scope="col" className="py-1 pr-3">
                  Day (UTC)
                </th>
                {series.map((s) => (
                  <th key={s.key} scope="col" className="py-1 pr-3">
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {(data[0]?.days ?? [])
                .map((d, i) => ({ day: d.day, values: data.map((pool) => pool.days[i]?.drawn_usd ?? 0) }))
                .filter((row) => row.values.some((v) => v > 0))
                .map((row) => (
                  <tr key={row.day} className="border-t border-slate-100">
                    <th scope="row" className="py-1 pr-3 font-normal">
                      {row.day}
                    </th>
                    {row.values.map((v, i) => (
                      <td key={series[i]!.key} className="py-1 pr-3 tabular-nums">
                        {formatUsdNumber(v)}
                      </td>
                    ))}
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}

/** The seller's earnings (pending / available / paid), where payouts go, payout history and pool draw-down. */
export function EarningsPanel() {
  const earnings = useQuery({ queryKey: ['sell-earnings'], queryFn: getEarnings });
  if (earnings.isPending) {
    return (
      <div className="flex items-center gap-2 text-sm text-slate-600" role="status">
        <Spinner /> Loading your earnings…
      </div>
    );
  }
  if (earnings.isError) {
    return (
      <ErrorState
        title="Could not load your earnings"
        message={earnings.error.message}
        action={
          <Button variant="secondary" size="sm" onClick={() => void earnings.refetch()}>
            Try again
          </Button>
        }
      />
    );
  }
  const data = earnings.data;
  return (
    <div className="space-y-6">
      <Card data-testid="earnings-card">
        <CardHeader title="Earnings" id="earnings-title" description={`Earnings stay pending for ${data.holding_days} days, so a charge-back or a correction can still be made before money leaves on chain.`} />
        <CardBody className="space-y-4 text-sm text-slate-700">
          <dl className="grid gap-3 sm:grid-cols-3">
            <Stat label="Pending" value={data.pending_usd} hint={`Earned in the last ${data.holding_days} days`} testId="earnings-pending" />
            <Stat label="Available" value={data.available_usd} hint="Paid out in the next run" testId="earnings-available" />
            <Stat label="Paid" value={data.paid_usd} hint="Confirmed on chain" testId="earnings-paid" />
          </dl>
          {data.processing_usd > 0 ? <p data-testid="earnings-processing">{formatUsdNumber(data.processing_usd)} is being sent now.</p> : null}
          <PayoutTarget data={data} />
        </CardBody>
      </Card>

      <Card>
        <CardHeader title="Payout history" />
        <CardBody>
          {data.payouts.length === 0 ? (
            <p className="text-sm text-slate-600" data-testid="payouts-empty">
              No payouts yet.
            </p>
          ) : (
            <ul className="divide-y divide-slate-100 text-sm" data-testid="payout-list">
              {data.payouts.map((payout) => (
                <li key={payout.id} className="flex flex-col gap-1 py-2 sm:flex-row sm:items-center sm:justify-between" data-testid="payout-row" data-status={payout.status}>
                  <div className="min-w-0">
                    <p className="font-medium tabular-nums text-slate-900">
                      {formatUsdNumber(payout.amount_usd)} <span className="font-normal text-slate-600">· {dateFormat.format(new Date(payout.created_at))}</span>
                    </p>
                    {payout.tx_hash ? (
                      <p className="break-all font-mono text-xs text-slate-600">
                        {payout.tx_url ? (
                          <a href={payout.tx_url} className="underline" target="_blank" rel="noreferrer" aria-label={`Transaction ${payout.tx_hash} (opens the block explorer)`}>
                            {shortHash(payout.tx_hash)}
                          </a>
                        ) : (
                          <span title={payout.tx_hash}>{shortHash(payout.tx_hash)}</span>
                        )}
                      </p>
                    ) : null}
                  </div>
                  <Badge tone={STATUS[payout.status].tone} className="self-start sm:self-center">
                    {STATUS[payout.status].label}
                  </Badge>
                </li>
              ))}
            </ul>
          )}
        </CardBody>
      </Card>

      <Card>
        <CardHeader title="Pool draw-down" />
        <CardBody>
          <DrawDownChart data={data.draw_down} />
        </CardBody>
      </Card>
    </div>
  );
}
