'use client';

import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatUsd } from '@/components/keys/api';

type Point = { day: string; balance_usd: string };

/** A plain-words account of the chart, for screen readers and anyone who prefers text. */
export function chartSummary(points: Point[]): string {
  if (points.length === 0) return 'No balance history yet.';
  const values = points.map((p) => Number(p.balance_usd));
  const first = values[0]!;
  const last = values.at(-1)!;
  const high = Math.max(...values);
  const low = Math.min(...values);
  const trend = last > first ? 'rose' : last < first ? 'fell' : 'stayed';
  const change = trend === 'stayed' ? `stayed at ${formatUsd(last)}` : `${trend} from ${formatUsd(first)} to ${formatUsd(last)}`;
  return `Over the last ${points.length} days (${points[0]!.day} to ${points.at(-1)!.day}, UTC) your total balance ${change}; highest ${formatUsd(high)}, lowest ${formatUsd(low)}.`;
}

/** End-of-day total balance over the last 30 UTC days, with its text summary beside it. */
export function BalanceChart({ points }: { points: Point[] }) {
  const data = points.map((p) => ({ label: p.day.slice(5), day: p.day, balance: Number(p.balance_usd) }));
  const summary = chartSummary(points);
  return (
    <figure className="space-y-3" data-testid="balance-chart">
      {/* The chart is a picture of the summary below; screen readers read the summary instead. */}
      <div className="h-56 w-full" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">
          {/* No keyboard layer: the chart is hidden from assistive technology, so nothing in it may take focus. */}
          <AreaChart data={data} margin={{ top: 8, right: 8, left: 0, bottom: 0 }} accessibilityLayer={false}>
            <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
            <XAxis dataKey="label" tick={{ fontSize: 11 }} interval="preserveStartEnd" minTickGap={16} />
            <YAxis tick={{ fontSize: 11 }} width={56} tickFormatter={(v: number) => formatUsd(v)} />
            <Tooltip formatter={(v) => formatUsd(Number(v))} labelFormatter={(_label, payload) => String(payload?.[0]?.payload?.day ?? '')} />
            <Area type="stepAfter" dataKey="balance" name="Balance" stroke="#1f57cc" fill="#1f57cc" fillOpacity={0.15} isAnimationActive={false} />
          </AreaChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="text-sm text-slate-600" data-testid="balance-chart-summary">
        {summary}
      </figcaption>
    </figure>
  );
}
