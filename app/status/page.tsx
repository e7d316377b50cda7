import type { Metadata } from 'next';
import { Badge, Card, CardHeader, type BadgeTone } from '@/components/ui';
import { currentUser } from '@/lib/auth/server';
import { getDb } from '@/lib/db/client';
import { collectStatus, STATE_LABELS, type StatusItem, type StatusState } from '@/lib/status';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Status' };

const TONE: Record<StatusState, BadgeTone> = { live: 'success', operator_action: 'warning', third_party: 'info', disabled: 'neutral' };

const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: 'UTC' });

/** "14:02:07 UTC, 12 s ago": rendered on the server, so both parts come from the same clock. */
function lastChecked(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const ago = seconds < 60 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
  return `${clock.format(new Date(iso))} UTC, ${ago}`;
}

async function load() {
  const [items, user] = await Promise.all([collectStatus({ db: getDb() }), currentUser()]);
  return { items, user, now: Date.now() };
}

export default async function StatusPage() {
  const { items, user, now } = await load();
  // Setting names, addresses and hosts are for the operator; buyers get what it means for them.
  const operator = user?.role === 'ADMIN';
  const groups = [...new Set(items.map((item) => item.group))];
  return (
    <div className="space-y-8">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Status</h1>
        <p className="max-w-2xl text-slate-600" data-testid="status-intro">
          What works on this instance right now: every way to pay and every model provider. Each provider gets a reachability check at most once a minute: a
          request without credentials that calls no model, so it shows the provider answers, not that every model or call works. The time of the last check is
          shown beside each.
        </p>
        <ul className="flex flex-wrap gap-2 pt-1" aria-label="Legend">
          {(Object.keys(STATE_LABELS) as StatusState[]).map((state) => (
            <li key={state}>
              <Badge tone={TONE[state]}>{STATE_LABELS[state]}</Badge>
            </li>
          ))}
        </ul>
        {operator ? (
          <p className="text-sm text-slate-600" data-testid="operator-view">
            You are signed in as an administrator: each line also shows the operator detail (settings to change, addresses, hosts).
          </p>
        ) : null}
      </header>
      {groups.map((group) => (
        <Card key={group}>
          <CardHeader title={group} />
          <ul className="divide-y divide-slate-100" data-testid={`status-${group.toLowerCase().replace(/\s+/g, '-')}`}>
            {items
              .filter((item) => item.group === group)
              .map((item: StatusItem) => (
                <li key={item.id} className="flex flex-col gap-1 px-5 py-3 sm:flex-row sm:items-start sm:justify-between sm:gap-6" data-testid={`status-item-${item.id}`} data-state={item.state}>
                  <div className="min-w-0 space-y-0.5">
                    <p className="font-medium text-slate-900">{item.name}</p>
                    <p className="break-words text-sm text-slate-600" data-testid="status-summary">
                      {item.summary}
                    </p>
                    {item.checkedAt ? (
                      <p className="text-xs text-slate-600" data-testid="last-checked">
                        Last checked <time dateTime={item.checkedAt}>{lastChecked(item.checkedAt, now)}</time>
                      </p>
                    ) : null}
                    {operator ? (
                      <p className="break-words text-xs text-slate-600" data-testid="operator-detail">
                        <span className="font-medium text-slate-700">Operator: </span>
                        {item.detail}
                      </p>
                    ) : null}
                  </div>
                  <Badge tone={TONE[item.state]} className="self-start">
                    {STATE_LABELS[item.state]}
                  </Badge>
                </li>
              ))}
          </ul>
        </Card>
      ))}
    </div>
  );
}
