'use client';

import { useInfiniteQuery } from '@tanstack/react-query';
import type { CreditHistoryResponse } from '@/lib/credits/history-schema';
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, Spinner } from '@/components/ui';
import { apiFetch } from '@/components/keys/api';
import { AlertCard } from './alert-form';
import { BalanceChart } from './balance-chart';
import { HistoryList } from './history-list';
import { RedeemForm } from './redeem-form';

const PAGE_SIZE = 50;

function Total({ label, value, testId, strong = false }: { label: string; value: string; testId: string; strong?: boolean }) {
  return (
    <Card>
      <CardBody>
        <p className="text-sm text-slate-600">{label}</p>
        <p className={strong ? 'mt-1 text-3xl font-semibold tabular-nums' : 'mt-1 text-2xl font-semibold tabular-nums'} data-testid={testId}>
          {value}
        </p>
      </CardBody>
    </Card>
  );
}

/** /credits: totals, the 30-day balance chart, the ledger history with receipts, the low-balance alert, and redeeming a code. */
export function CreditsManager() {
  const history = useInfiniteQuery({
    queryKey: ['credits-history'],
    queryFn: ({ pageParam }) => apiFetch<CreditHistoryResponse>(`/api/credits/history?limit=${PAGE_SIZE}${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ''}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  // Totals and chart are the same on every page; the first page's are the freshest after a refetch.
  const first = history.data?.pages[0];
  const items = history.data?.pages.flatMap((p) => p.data) ?? [];

  return (
    <div className="space-y-6">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Credits</h1>
        <p className="max-w-2xl text-slate-600">Everything that added to or spent your balance, straight from the ledger. Calls are summed per day (UTC).</p>
      </header>

      {history.isPending ? (
        <div className="flex items-center gap-2 text-sm text-slate-500" role="status">
          <Spinner /> Loading your credits…
        </div>
      ) : history.isError ? (
        <ErrorState
          title="Could not load your credits"
          message={history.error.message}
          action={
            <Button variant="secondary" onClick={() => void history.refetch()}>
              Try again
            </Button>
          }
        />
      ) : (
        <>
          <section aria-label="Totals" className="grid gap-4 sm:grid-cols-3">
            <Total label="Wallet" value={first!.totals.wallet_display} testId="total-wallet" />
            <Total label="Pack credit" value={first!.totals.pack_credit_display} testId="total-packs" />
            <Total label="Total" value={first!.totals.total_display} testId="total-all" strong />
          </section>

          <Card>
            <CardHeader title="Balance, last 30 days" />
            <CardBody>
              <BalanceChart points={first!.chart} />
            </CardBody>
          </Card>

          <Card>
            <CardHeader title="History" description="Open a receipt to see its transaction id." />
            {items.length === 0 ? (
              <CardBody>
                <EmptyState title="Nothing yet" message="Credit you add or receive, and what your calls spend, will show here." />
              </CardBody>
            ) : (
              <HistoryList items={items} />
            )}
            {history.hasNextPage ? (
              <CardBody className="border-t border-slate-100">
                <Button variant="secondary" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage} data-testid="history-more">
                  {history.isFetchingNextPage ? 'Loading…' : 'Show older entries'}
                </Button>
              </CardBody>
            ) : null}
          </Card>
        </>
      )}

      <AlertCard />

      <Card>
        <CardHeader id="redeem-heading" title="Redeem a code" description="A TG-… code from an event or from support adds its credit to your wallet." />
        <CardBody>
          <RedeemForm />
        </CardBody>
      </Card>
    </div>
  );
}
