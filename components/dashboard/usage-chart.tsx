'use client';

import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, Spinner, cn } from '@/components/ui';
import { apiFetch, formatUsd } from '@/components/keys/api';
import { chartColors, LEGEND_TEXT_COLOR } from './model-colors';

export type Range = '24h' | '7d' | '30d';
type Metric = 'cost' | 'tokens';
type DailyRow = { day: string; model: string; requests: number; prompt_tokens: number; completion_tokens: number; cost_usd: number };
export type UsageRow = { id: string; request_id: string; key_id: string | null; model: string; provider: string | null; stream: boolean; prompt_tokens: number; completion_tokens: number; cost_usd: number; latency_ms: number; status: string; error_code: string | null; created_at: string };

const RANGES: Array<{ id: Range; label: string }> = [
  { id: '24h', label: '24 h' },
  { id: '7d', label: '7 d' },
  { id: '30d', label: '30 d' },
];

const isoDay = (date: Date) => date.toISOString().slice(0, 10);

/** The start of a range: 24 hours ago, or the first UTC day of the last 7 / 30. */
export function rangeStart(range: Range, now = new Date()): Date {
  if (range === '24h') return new Date(now.getTime() - 24 * 3_600_000);
  const days = range === '7d' ? 7 : 30;
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
}

type Point = Record<string, number | string> & { label: string };

function buildSeries(range: Range, daily: DailyRow[] | undefined, recent: UsageRow[] | undefined, metric: Metric, now = new Date()) {
  const points: Point[] = [];
  const models = new Set<string>();
  const add = (index: Map<string, Point>, key: string, model: string, cost: number, tokens: number) => {
    const point = index.get(key);
    if (!point) return;
    models.add(model);
    point[model] = Number(point[model] ?? 0) + (metric === 'cost' ? cost : tokens);
  };
  const index = new Map<string, Point>();
  if (range === '24h') {
    const start = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 - 23 * 3_600_000);
    for (let i = 0; i < 24; i++) {
      const hour = new Date(start.getTime() + i * 3_600_000);
      const point: Point = { label: `${String(hour.getUTCHours()).padStart(2, '0')}:00` };
      points.push(point);
      index.set(hour.toISOString().slice(0, 13), point);
    }
    for (const row of recent ?? []) add(index, row.created_at.slice(0, 13), row.model, row.cost_usd, row.prompt_tokens + row.completion_tokens);
  } else {
    const start = rangeStart(range, now);
    const days = range === '7d' ? 7 : 30;
    for (let i = 0; i < days; i++) {
      const day = isoDay(new Date(start.getTime() + i * 86_400_000));
      const point: Point = { label: day.slice(5) };
      points.push(point);
      index.set(day, point);
    }
    for (const row of daily ?? []) add(index, row.day, row.model, row.cost_usd, row.prompt_tokens + row.completion_tokens);
  }
  return { points, models: [...models].sort() };
}

/** Cost and tokens by model over 24 h (hourly), 7 d or 30 d (daily), from the usage API. */
export function UsageChart({ range, onRangeChange }: { range: Range; onRangeChange: (range: Range) => void }) {
  const [metric, setMetric] = useState<Metric>('cost');
  const from = rangeStart(range);
  const daily = useQuery({
    queryKey: ['usage-daily', range],
    queryFn: () => apiFetch<{ data: DailyRow[] }>(`/api/usage/daily?from=${isoDay(from)}`).then((r) => r.data),
    enabled: range !== '24h',
  });
  const recent = useQuery({
    queryKey: ['usage-24h'],
    queryFn: () => apiFetch<{ data: UsageRow[] }>(`/api/usage?from=${encodeURIComponent(rangeStart('24h').toISOString())}&limit=500`).then((r) => r.data),
    enabled: range === '24h',
  });
  const active = range === '24h' ? recent : daily;
  const series = useMemo(() => buildSeries(range, daily.data, recent.data, metric), [range, daily.data, recent.data, metric]);
  const colors = useMemo(() => chartColors(series.models), [series.models]);
  const totals = useMemo(() => {
    let cost = 0;
    let tokens = 0;
    let requests = 0;
    const rows = range === '24h' ? (recent.data ?? []).map((r) => ({ ...r, requests: 1 })) : (daily.data ?? []);
    for (const r of rows) {
      cost += r.cost_usd;
      tokens += r.prompt_tokens + r.completion_tokens;
      requests += r.requests;
    }
    return { cost, tokens, requests };
  }, [range, daily.data, recent.data]);

  return (
    <Card data-testid="usage-chart">
      <CardHeader
        title="Usage over time"
        description={`${totals.requests.toLocaleString('en-US')} request${totals.requests === 1 ? '' : 's'} · ${totals.tokens.toLocaleString('en-US')} tokens · ${formatUsd(totals.cost)}`}
        actions={
          <>
            <div role="group" aria-label="Metric" className="flex rounded-lg ring-1 ring-slate-200">
              {(['cost', 'tokens'] as const).map((m) => (
                <button key={m} type="button" aria-pressed={metric === m} onClick={() => setMetric(m)} className={cn('px-3 py-1 text-xs font-medium first:rounded-l-lg last:rounded-r-lg', metric === m ? 'bg-slate-900 text-white' : 'text-slate-600 hover:bg-slate-50')}>
                  {m === 'cost' ? 'Cost' : 'Tokens'}
                </button>
              ))}
            </div>
            <div role="group" aria-label="Time range" className="flex rounded-lg ring-1 ring-slate-200">
              {RANGES.map((r) => (
                <button
                  key={r.id}
                  type="button"
                  aria-pressed={range === r.id}
                  onClick={() => onRangeChange(r.id)}
                  className={cn('px-3 py-1 text-xs font-medium first:rounded-l-lg last:rounded-r-lg', range === r.id ? 'bg-slate-900 text-white' : 'text-slate-600 hover:bg-slate-50')}
                  data-testid={`range-${r.id}`}
                >
                  {r.label}
                </button>
              ))}
            </div>
          </>
        }
      />
      <CardBody>
        {active.isPending ? (
          <div className="flex h-64 items-center justify-center gap-2 text-sm text-slate-500" role="status">
            <Spinner /> Loading usage…
          </div>
        ) : active.isError ? (
          <ErrorState title="Could not load usage" message={active.error.message} action={<Button size="sm" variant="secondary" onClick={() => void active.refetch()}>Try again</Button>} />
        ) : series.models.length === 0 ? (
          <EmptyState title="No usage in this period" message="Calls made with your keys show up here within seconds, by model." className="h-64 justify-center" />
        ) : (
          <div className="h-72" data-testid="chart-ready" data-models={series.models.join(',')} data-colors={series.models.map((model) => colors.get(model)).join(',')}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={series.points} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e8f0" />
                <XAxis dataKey="label" tick={{ fontSize: 11, fill: '#64748b' }} interval="preserveStartEnd" />
                <YAxis
                  tick={{ fontSize: 11, fill: '#64748b' }}
                  width={80}
                  tickFormatter={(v: number) => (metric === 'cost' ? formatUsd(v) : v.toLocaleString('en-US', { notation: 'compact' }))}
                />
                <Tooltip itemStyle={{ color: LEGEND_TEXT_COLOR }} formatter={(v) => (metric === 'cost' ? formatUsd(Number(v)) : `${Number(v).toLocaleString('en-US')} tokens`)} />
                {/* Recharts paints legend text in the series colour; dark text keeps it readable (≥ 4.5:1) whatever the swatch. */}
                <Legend wrapperStyle={{ fontSize: 12 }} formatter={(value) => <span style={{ color: LEGEND_TEXT_COLOR }}>{String(value)}</span>} />
                {series.models.map((model) => (
                  <Bar key={model} dataKey={model} stackId="usage" fill={colors.get(model)} isAnimationActive={false} />
                ))}
              </BarChart>
            </ResponsiveContainer>
          </div>
        )}
      </CardBody>
    </Card>
  );
}
