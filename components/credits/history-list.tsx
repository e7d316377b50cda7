'use client';

import type { CreditHistoryItem } from '@/lib/credits/history-schema';
import { Badge, cn, type BadgeTone } from '@/components/ui';
import { formatDateTime } from '@/components/keys/api';

const TONES: Record<CreditHistoryItem['kind'], BadgeTone> = {
  welcome: 'success',
  pack_purchase: 'neutral',
  deposit: 'success',
  redemption: 'success',
  adjustment: 'neutral',
  spend: 'neutral',
};

function whenOf(item: CreditHistoryItem): string {
  // A spend line is a whole UTC day of calls, not one moment.
  return item.kind === 'spend' ? `${item.day} (UTC)` : formatDateTime(item.date);
}

function describe(item: CreditHistoryItem): string {
  if (item.kind === 'spend') return `${item.calls ?? 0} ${item.calls === 1 ? 'call' : 'calls'}`;
  return item.receipt?.memo ?? '';
}

function Amount({ item }: { item: CreditHistoryItem }) {
  const negative = item.amount_usd.startsWith('-');
  return <span className={cn('font-medium tabular-nums', negative ? 'text-slate-900' : 'text-emerald-700')}>{negative ? item.amount_display : `+${item.amount_display}`}</span>;
}

/** The receipt of one ledger transaction, opened on demand. */
function Receipt({ item }: { item: CreditHistoryItem }) {
  if (!item.receipt) return <span className="text-xs text-slate-500">Per-call detail is on the dashboard.</span>;
  return (
    <details className="text-sm" data-testid="receipt">
      <summary className="cursor-pointer text-brand-700 underline-offset-2 hover:underline">
        Receipt<span className="sr-only"> for {item.label}, {whenOf(item)}</span>
      </summary>
      <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 rounded-lg bg-slate-50 p-3 text-xs text-slate-700">
        <dt className="font-medium">Transaction</dt>
        <dd className="font-mono break-all" data-testid="receipt-id">
          {item.receipt.transaction_id}
        </dd>
        <dt className="font-medium">Date</dt>
        <dd>{formatDateTime(item.date)}</dd>
        <dt className="font-medium">Type</dt>
        <dd>{item.label}</dd>
        <dt className="font-medium">Amount</dt>
        <dd className="tabular-nums">{item.amount_display}</dd>
        {item.pack_change_usd !== '0.000000' && item.wallet_change_usd !== '0.000000' ? (
          <>
            <dt className="font-medium">Wallet / packs</dt>
            <dd className="tabular-nums">
              {item.wallet_change_usd} / {item.pack_change_usd} USD
            </dd>
          </>
        ) : null}
        <dt className="font-medium">Details</dt>
        <dd>{item.receipt.memo}</dd>
        <dt className="font-medium">Balance after</dt>
        <dd className="tabular-nums">{item.balance_after_display}</dd>
      </dl>
    </details>
  );
}

/** The history: a table from md up, cards on phones. */
export function HistoryList({ items }: { items: CreditHistoryItem[] }) {
  return (
    <>
      <div className="hidden md:block">
        <table className="w-full text-left text-sm" data-testid="history-table">
          <caption className="sr-only">Credit history, newest first</caption>
          <thead className="border-b border-slate-200 text-xs tracking-wide text-slate-500 uppercase">
            <tr>
              <th scope="col" className="px-5 py-3 font-medium">
                Date
              </th>
              <th scope="col" className="px-5 py-3 font-medium">
                Type
              </th>
              <th scope="col" className="px-5 py-3 font-medium">
                Details
              </th>
              <th scope="col" className="px-5 py-3 text-right font-medium">
                Amount
              </th>
              <th scope="col" className="px-5 py-3 text-right font-medium">
                Balance after
              </th>
              <th scope="col" className="px-5 py-3 font-medium">
                <span className="sr-only">Receipt</span>
              </th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {items.map((item) => (
              <tr key={item.id} data-testid="history-row" data-kind={item.kind} className="align-top">
                <td className="px-5 py-3 whitespace-nowrap text-slate-600">{whenOf(item)}</td>
                <td className="px-5 py-3">
                  <Badge tone={TONES[item.kind]}>{item.label}</Badge>
                </td>
                <td className="px-5 py-3 text-slate-700">{describe(item)}</td>
                <td className="px-5 py-3 text-right">
                  <Amount item={item} />
                </td>
                <td className="px-5 py-3 text-right tabular-nums text-slate-700">{item.balance_after_display}</td>
                <td className="px-5 py-3">
                  <Receipt item={item} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ul className="divide-y divide-slate-100 md:hidden" data-testid="history-cards">
        {items.map((item) => (
          <li key={item.id} className="space-y-2 px-4 py-3" data-testid="history-card" data-kind={item.kind}>
            <div className="flex items-start justify-between gap-3">
              <div className="min-w-0 space-y-1">
                <Badge tone={TONES[item.kind]}>{item.label}</Badge>
                <p className="text-xs text-slate-500">{whenOf(item)}</p>
              </div>
              <div className="text-right">
                <Amount item={item} />
                <p className="text-xs text-slate-500 tabular-nums">Balance {item.balance_after_display}</p>
              </div>
            </div>
            <p className="text-sm break-words text-slate-700">{describe(item)}</p>
            <Receipt item={item} />
          </li>
        ))}
      </ul>
    </>
  );
}
