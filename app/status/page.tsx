import type { Metadata } from 'next';
import { Badge, Card, CardHeader, type BadgeTone } from '@/components/ui';
import { getDb } from '@/lib/db/client';
import { collectStatus, STATE_LABELS, type StatusItem, type StatusState } from '@/lib/status';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Status' };

const TONE: Record<StatusState, BadgeTone> = { live: 'success', operator_action: 'warning', third_party: 'info', disabled: 'neutral' };

export default async function StatusPage() {
  const items = await collectStatus({ db: getDb() });
  const groups = [...new Set(items.map((item) => item.group))];
  return (
    <div className="space-y-8">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Status</h1>
        <p className="max-w-2xl text-slate-600">
          Every payment rail and model provider of this instance, from its configuration: live, waiting for the operator, blocked on a third party, or
          switched off safely (nothing is accepted or charged through it).
        </p>
        <ul className="flex flex-wrap gap-2 pt-1" aria-label="Legend">
          {(Object.keys(STATE_LABELS) as StatusState[]).map((state) => (
            <li key={state}>
              <Badge tone={TONE[state]}>{STATE_LABELS[state]}</Badge>
            </li>
          ))}
        </ul>
      </header>
      {groups.map((group) => (
        <Card key={group}>
          <CardHeader title={group} />
          <ul className="divide-y divide-slate-100" data-testid={`status-${group.toLowerCase().replace(/\s+/g, '-')}`}>
            {items
              .filter((item) => item.group === group)
              .map((item: StatusItem) => (
                <li key={item.id} className="flex flex-col gap-1 px-5 py-3 sm:flex-row sm:items-start sm:justify-between sm:gap-6" data-testid={`status-item-${item.id}`}>
                  <div className="min-w-0">
                    <p className="font-medium text-slate-900">{item.name}</p>
                    <p className="break-words text-sm text-slate-600">{item.detail}</p>
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
