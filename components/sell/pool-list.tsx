'use client';

import { Badge, Button, Card, ProgressBar, type BadgeTone } from '@/components/ui';
import { formatUsd } from '@/components/keys/api';
import { formatRate, providerName, type PoolView } from './api';

const STATUS_TONE: Record<PoolView['status'], BadgeTone> = {
  live: 'success',
  paused: 'warning',
  exhausted: 'neutral',
  expired: 'neutral',
  revoked: 'danger',
};

export type PoolActions = {
  onPause: (pool: PoolView) => void;
  onResume: (pool: PoolView) => void;
  onRevoke: (pool: PoolView) => void;
  /** The pool whose pause or resume is in flight, so only its buttons wait. */
  busyId: string | null;
};

const label = (pool: PoolView) => `${providerName(pool.provider)} pool …${pool.key_hint}`;

function Status({ pool }: { pool: PoolView }) {
  return (
    <div className="space-y-0.5">
      <Badge tone={STATUS_TONE[pool.status] ?? 'neutral'}>{pool.status}</Badge>
      {pool.status_reason ? <div className="text-xs text-slate-500">{pool.status_reason}</div> : null}
    </div>
  );
}

/** What is left of the face value: in words and as a bar, so the amount never rests on colour. */
function Remaining({ pool }: { pool: PoolView }) {
  const text = `${formatUsd(pool.remaining_usd)} of ${formatUsd(pool.face_value_usd)} left`;
  return (
    <div className="min-w-[9rem] space-y-1">
      <div className="text-sm tabular-nums text-slate-800">{text}</div>
      <ProgressBar value={pool.remaining_usd} max={pool.face_value_usd} label={`Remaining of ${label(pool)}`} valueText={text} tone={pool.status === 'live' ? 'success' : 'brand'} />
    </div>
  );
}

function Actions({ pool, actions }: { pool: PoolView; actions: PoolActions }) {
  const open = pool.status === 'live' || pool.status === 'paused';
  if (!open) return <span className="text-xs text-slate-500">no actions</span>;
  const busy = actions.busyId === pool.id;
  return (
    <div className="flex flex-wrap justify-end gap-1">
      {pool.status === 'live' ? (
        <Button size="sm" variant="secondary" loading={busy} onClick={() => actions.onPause(pool)} aria-label={`Pause ${label(pool)}`} data-testid="pause-pool">
          Pause
        </Button>
      ) : (
        <Button size="sm" variant="secondary" loading={busy} onClick={() => actions.onResume(pool)} aria-label={`Resume ${label(pool)}`} data-testid="resume-pool">
          {busy ? 'Verifying…' : 'Resume'}
        </Button>
      )}
      <Button size="sm" variant="ghost" className="text-red-700 hover:bg-red-50" disabled={busy} onClick={() => actions.onRevoke(pool)} aria-label={`Revoke ${label(pool)}`} data-testid="revoke-pool">
        Revoke
      </Button>
    </div>
  );
}

// Expiry is a UTC day (stored as its last instant): shown in UTC, so no time zone moves it a day.
const expiry = (pool: PoolView) => (pool.expires_at ? `${new Date(pool.expires_at).toLocaleDateString('en-US', { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric' })} (UTC)` : 'No expiry');

/**
 * The seller's pools: a table from the md breakpoint, stacked cards below it, so a phone never
 * scrolls sideways. Both are rendered and one is hidden by CSS; the hidden one is out of the
 * accessibility tree (display: none), so nothing is read twice.
 */
export function PoolList({ pools, actions }: { pools: PoolView[]; actions: PoolActions }) {
  return (
    <>
      <ul className="space-y-3 md:hidden" aria-label="Your pools" data-testid="pool-cards">
        {pools.map((pool) => (
          <li key={pool.id} data-testid="pool-card" data-pool-id={pool.id} data-status={pool.status}>
            <Card className="space-y-3 p-4">
              <div className="flex items-start justify-between gap-3">
                <div className="min-w-0">
                  <div className="font-medium text-slate-900">{providerName(pool.provider)}</div>
                  <div className="font-mono text-xs text-slate-500" data-testid="pool-key-hint">
                    …{pool.key_hint}
                  </div>
                </div>
                <Status pool={pool} />
              </div>
              <Remaining pool={pool} />
              <dl className="grid grid-cols-2 gap-x-4 gap-y-1 text-sm">
                <dt className="text-slate-500">Face value</dt>
                <dd className="tabular-nums">{formatUsd(pool.face_value_usd)}</dd>
                <dt className="text-slate-500">Drawn</dt>
                <dd className="tabular-nums">{formatUsd(pool.drawn_usd)}</dd>
                <dt className="text-slate-500">Rate</dt>
                <dd className="tabular-nums">{formatRate(pool.rate)} of list</dd>
                <dt className="text-slate-500">Expires</dt>
                <dd>{expiry(pool)}</dd>
              </dl>
              <Actions pool={pool} actions={actions} />
            </Card>
          </li>
        ))}
      </ul>

      <Card className="hidden overflow-x-auto md:block">
        <table className="w-full text-left text-sm" data-testid="pools-table">
          <caption className="sr-only">Your pools with what is left of each and its status</caption>
          <thead className="border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-500 uppercase">
            <tr>
              <th scope="col" className="px-4 py-3">Pool</th>
              <th scope="col" className="px-4 py-3">Face value</th>
              <th scope="col" className="px-4 py-3">Drawn</th>
              <th scope="col" className="px-4 py-3">Remaining</th>
              <th scope="col" className="px-4 py-3">Rate</th>
              <th scope="col" className="px-4 py-3">Status</th>
              <th scope="col" className="px-4 py-3">Expires</th>
              <th scope="col" className="px-4 py-3 text-right">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {pools.map((pool) => (
              <tr key={pool.id} data-testid="pool-row" data-pool-id={pool.id} data-status={pool.status}>
                <th scope="row" className="px-4 py-3 align-top font-normal">
                  <div className="font-medium text-slate-900">{providerName(pool.provider)}</div>
                  <div className="font-mono text-xs text-slate-500" data-testid="pool-key-hint">
                    …{pool.key_hint}
                  </div>
                </th>
                <td className="px-4 py-3 align-top tabular-nums">{formatUsd(pool.face_value_usd)}</td>
                <td className="px-4 py-3 align-top tabular-nums">{formatUsd(pool.drawn_usd)}</td>
                <td className="px-4 py-3 align-top">
                  <Remaining pool={pool} />
                </td>
                <td className="px-4 py-3 align-top tabular-nums">{formatRate(pool.rate)}</td>
                <td className="px-4 py-3 align-top" data-testid="pool-status">
                  <Status pool={pool} />
                </td>
                <td className="px-4 py-3 align-top text-slate-600">{expiry(pool)}</td>
                <td className="px-4 py-3 text-right align-top whitespace-nowrap">
                  <Actions pool={pool} actions={actions} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </>
  );
}
