'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { ApiError, fetchIfSignedIn, Badge, Button, Card, ConfirmDialog, EmptyState, EnsureQueryClient, ErrorState, ProgressBar, Spinner, buttonClasses, fetchJson } from '@/components/ui';
import { usdToMicros } from '@/lib/money';
import { packBonusText } from '@/lib/packs/pack-bonus';
import { dateFormat, formatUsdNumber, scopeLabel, type Account, type List, type Lot, type Pack, type PurchaseResult, type ScopeNames } from './types';

export const packKeys = {
  packs: ['packs'] as const,
  lots: ['lots'] as const,
  account: ['account'] as const,
};

/** The signed-in account, or null when the visitor is signed out. */
const fetchAccount = () => fetchIfSignedIn<Account>('/api/account');

export function PackShop(props: { initialPacks: Pack[]; names: ScopeNames }) {
  return (
    <EnsureQueryClient>
      <Shop {...props} />
    </EnsureQueryClient>
  );
}

function Shop({ initialPacks, names }: { initialPacks: Pack[]; names: ScopeNames }) {
  const packs = useQuery({ queryKey: packKeys.packs, queryFn: async () => (await fetchJson<List<Pack>>('/api/packs')).data, initialData: initialPacks, staleTime: 60_000 });
  const account = useQuery({ queryKey: packKeys.account, queryFn: fetchAccount });
  const signedIn = account.data != null;
  // One idempotency key per dialog opening: a double click or a retry after a timeout buys once.
  const [buying, setBuying] = useState<Purchase | null>(null);
  const [bought, setBought] = useState<PurchaseResult | null>(null);

  return (
    <div className="space-y-10">
      <header className="flex flex-col gap-6 lg:flex-row lg:items-end lg:justify-between">
        <div className="max-w-2xl space-y-2">
          <h1 className="text-3xl font-semibold tracking-tight">Credit packs</h1>
          <p className="text-slate-600">
            Prepaid credit that gives more than it costs, bought with your wallet balance. Calls draw on the most specific pack first (a model&apos;s own pack before a
            general one), then the one expiring soonest, then your balance.
          </p>
        </div>
        <WalletSummary account={account.data} loading={account.isPending} error={account.error} onRetry={() => void account.refetch()} />
      </header>

      {bought ? (
        <div role="status" className="flex flex-wrap items-center justify-between gap-3 rounded-xl border border-emerald-200 bg-emerald-50 px-4 py-3 text-sm text-emerald-800" data-testid="purchase-success">
          <span>
            Bought <strong>{bought.lot.pack_name}</strong>: {formatUsdNumber(bought.lot.face_value_usd)} of credit, usable until{' '}
            {dateFormat.format(new Date(bought.lot.expires_at))}. Wallet balance now {formatUsdNumber(bought.balance_usd)}.
          </span>
          <button type="button" className="text-emerald-900 underline" onClick={() => setBought(null)}>
            Dismiss
          </button>
        </div>
      ) : null}

      <section aria-labelledby="shop-heading" className="space-y-4">
        <h2 id="shop-heading" className="text-lg font-semibold">
          Shop
        </h2>
        {packs.error && !packs.data.length ? (
          <ErrorState title="Could not load the packs" message={packs.error.message} action={<Button variant="secondary" size="sm" onClick={() => void packs.refetch()}>Try again</Button>} />
        ) : packs.data.length === 0 ? (
          <EmptyState title="No packs on sale right now" message="An administrator has not put any packs in the shop yet. You can still pay per call from your balance." />
        ) : (
          <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="pack-list">
            {packs.data.map((pack) => (
              <PackCard key={pack.id} pack={pack} names={names} signedIn={signedIn} accountLoading={account.isPending} onBuy={() => setBuying({ pack, idempotencyKey: crypto.randomUUID(), openedAt: Date.now() })} />
            ))}
          </ul>
        )}
      </section>

      {signedIn ? <OwnedLots names={names} /> : null}

      <PurchaseDialog
        purchase={buying}
        account={account.data ?? null}
        names={names}
        onClose={() => setBuying(null)}
        onBought={(result) => {
          setBuying(null);
          setBought(result);
        }}
      />
    </div>
  );
}

function WalletSummary({ account, loading, error, onRetry }: { account: Account | null | undefined; loading: boolean; error: Error | null; onRetry: () => void }) {
  if (loading) return <Spinner label="Loading your balance…" />;
  if (error) return <ErrorState title="Could not load your balance" message={error.message} action={<Button size="sm" variant="secondary" onClick={onRetry}>Try again</Button>} className="lg:max-w-sm" />;
  if (!account) {
    return (
      <Card className="flex flex-wrap items-center gap-4 px-5 py-4 lg:max-w-md" data-testid="signin-prompt">
        <p className="text-sm text-slate-600">Sign in to buy packs with your wallet balance and see the ones you own.</p>
        <Link href="/signin?callbackUrl=%2Fpacks" className={buttonClasses({ size: 'sm' })}>
          Sign in
        </Link>
      </Card>
    );
  }
  return (
    <Card className="flex items-center gap-6 px-5 py-4" data-testid="wallet-summary">
      <div>
        <div className="text-xs uppercase tracking-wide text-slate-500">Wallet balance</div>
        <div className="text-2xl font-semibold tabular-nums" data-testid="wallet-balance">
          {formatUsdNumber(account.available_usd)}
        </div>
        {account.balance_usd !== account.available_usd ? (
          <div className="text-xs text-slate-500">{formatUsdNumber(account.balance_usd - account.available_usd)} held for calls in flight</div>
        ) : null}
      </div>
      <Link href="/deposit" className={buttonClasses({ variant: 'secondary', size: 'sm' })}>
        Add funds
      </Link>
    </Card>
  );
}

function PackCard({ pack, names, signedIn, accountLoading, onBuy }: { pack: Pack; names: ScopeNames; signedIn: boolean; accountLoading: boolean; onBuy: () => void }) {
  const general = !pack.scope.model && !pack.scope.provider;
  // The API's amounts are exact decimal USD (at most six places), so they convert back to micro-USD without loss.
  const bonus = packBonusText({ price: usdToMicros(pack.price_usd), faceValue: usdToMicros(pack.face_value_usd) });
  return (
    <li>
      <Card className="flex h-full flex-col p-5" data-testid={`pack-${pack.id}`}>
        <div className="flex items-start justify-between gap-2">
          <h3 className="font-semibold">{pack.name}</h3>
          {bonus ? <Badge tone="success">{bonus}</Badge> : null}
        </div>
        <p className="mt-1 text-sm text-slate-600">{pack.description}</p>
        <div className="mt-4 flex items-baseline gap-2">
          <span className="text-3xl font-semibold tabular-nums">{formatUsdNumber(pack.price_usd)}</span>
          <span className="text-sm text-slate-500">for {formatUsdNumber(pack.face_value_usd)} of credit</span>
        </div>
        <dl className="mt-4 grid grid-cols-[minmax(0,1fr)_auto] gap-x-4 gap-y-2 text-sm">
          <div>
            <dt className="text-xs text-slate-500">Works with</dt>
            <dd>
              <Badge tone={general ? 'brand' : 'neutral'} className="whitespace-normal">
                {scopeLabel(pack.scope, names)}
              </Badge>
            </dd>
          </div>
          <div className="text-right">
            <dt className="text-xs text-slate-500">Valid for</dt>
            <dd>{pack.validity_days} days</dd>
          </div>
        </dl>
        <div className="mt-auto pt-5">
          {signedIn ? (
            <Button className="w-full" onClick={onBuy} aria-label={`Buy ${pack.name}`}>
              Buy
            </Button>
          ) : accountLoading ? (
            <Button className="w-full" disabled>
              Buy
            </Button>
          ) : (
            <Link href="/signin?callbackUrl=%2Fpacks" className={buttonClasses({ variant: 'secondary', className: 'w-full' })}>
              Sign in to buy
            </Link>
          )}
        </div>
      </Card>
    </li>
  );
}

type Purchase = { pack: Pack; idempotencyKey: string; openedAt: number };

function PurchaseDialog({ purchase: open, account, names, onClose, onBought }: { purchase: Purchase | null; account: Account | null; names: ScopeNames; onClose: () => void; onBought: (result: PurchaseResult) => void }) {
  const queryClient = useQueryClient();
  const pack = open?.pack ?? null;
  const purchase = useMutation({
    mutationFn: (target: Purchase) =>
      fetchJson<PurchaseResult>(`/api/packs/${encodeURIComponent(target.pack.id)}/purchase`, {
        method: 'POST',
        headers: { 'idempotency-key': target.idempotencyKey },
        body: '{}',
      }),
    onSuccess: (result) => {
      void queryClient.invalidateQueries({ queryKey: packKeys.account });
      void queryClient.invalidateQueries({ queryKey: packKeys.lots });
      onBought(result);
      purchase.reset();
    },
  });
  const close = () => {
    purchase.reset();
    onClose();
  };
  const short = pack && account ? account.available_usd < pack.price_usd : false;
  const error = purchase.error;
  const insufficient = short || (error instanceof ApiError && error.status === 402);
  const expires = open ? new Date(open.openedAt + open.pack.validity_days * 86_400_000) : null;

  return (
    <ConfirmDialog
      open={pack !== null}
      onClose={close}
      onConfirm={() => open && !short && purchase.mutate(open)}
      title={pack ? `Buy ${pack.name}?` : ''}
      description="Paid from your wallet balance. Packs are not refundable."
      confirmLabel={pack ? `Pay ${formatUsdNumber(pack.price_usd)}` : 'Pay'}
      loading={purchase.isPending}
      confirmDisabled={short}
      error={
        error && !(error instanceof ApiError && error.status === 402) ? error.message : null
      }
    >
      {pack ? (
        <div className="space-y-4">
          <dl className="divide-y divide-slate-100 rounded-lg border border-slate-200 text-sm" data-testid="purchase-summary">
            <Row label="Price" value={formatUsdNumber(pack.price_usd)} />
            <Row label="Face value (credit you get)" value={formatUsdNumber(pack.face_value_usd)} />
            <Row label="Works with" value={scopeLabel(pack.scope, names)} />
            <Row label="Expires" value={expires ? `${dateFormat.format(expires)} (${pack.validity_days} days)` : ''} />
            {account ? <Row label="Wallet after purchase" value={formatUsdNumber(Math.max(0, account.available_usd - pack.price_usd))} /> : null}
          </dl>
          {insufficient ? (
            <div role="alert" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900">
              {error instanceof ApiError && error.status === 402 ? error.message : `Your available balance is ${formatUsdNumber(account?.available_usd ?? 0)}, less than the price.`}{' '}
              <Link href="/deposit" className="font-medium underline">
                Add funds
              </Link>
            </div>
          ) : null}
        </div>
      ) : null}
    </ConfirmDialog>
  );
}

function Row({ label, value }: { label: string; value: string }) {
  return (
    <div className="flex justify-between gap-4 px-3 py-2">
      <dt className="text-slate-500">{label}</dt>
      <dd className="text-right font-medium tabular-nums">{value}</dd>
    </div>
  );
}

function OwnedLots({ names }: { names: ScopeNames }) {
  const lots = useQuery({ queryKey: packKeys.lots, queryFn: async () => (await fetchJson<List<Lot>>('/api/lots')).data });
  const [now] = useState(() => Date.now());
  return (
    <section aria-labelledby="lots-heading" className="space-y-4">
      <h2 id="lots-heading" className="text-lg font-semibold">
        Your packs
      </h2>
      {lots.isPending ? (
        <Spinner label="Loading your packs…" />
      ) : lots.error ? (
        <ErrorState title="Could not load your packs" message={lots.error.message} action={<Button variant="secondary" size="sm" onClick={() => void lots.refetch()}>Try again</Button>} />
      ) : lots.data.length === 0 ? (
        <EmptyState title="You have no packs yet" message="Packs you buy show here with the credit left in each and when it expires." />
      ) : (
        <ul className="grid gap-3 md:grid-cols-2" data-testid="lot-list">
          {lots.data.map((lot) => (
            <LotRow key={lot.id} lot={lot} names={names} now={now} />
          ))}
        </ul>
      )}
    </section>
  );
}

const STATUS_TONE = { ACTIVE: 'success', EXHAUSTED: 'neutral', EXPIRED: 'warning' } as const;

function LotRow({ lot, names, now }: { lot: Lot; names: ScopeNames; now: number }) {
  const expires = new Date(lot.expires_at);
  const days = Math.ceil((expires.getTime() - now) / 86_400_000);
  const share = lot.face_value_usd > 0 ? lot.remaining_usd / lot.face_value_usd : 0;
  return (
    <li>
      <Card className="space-y-3 p-4" data-testid={`lot-${lot.id}`}>
        <div className="flex items-start justify-between gap-2">
          <div>
            <h3 className="font-medium">{lot.pack_name}</h3>
            <p className="text-xs text-slate-500">{scopeLabel(lot.scope, names)}</p>
          </div>
          <Badge tone={STATUS_TONE[lot.status]}>{lot.status.toLowerCase()}</Badge>
        </div>
        <ProgressBar
          value={lot.remaining_usd}
          max={lot.face_value_usd}
          label={`${lot.pack_name} credit left`}
          valueText={`${formatUsdNumber(lot.remaining_usd)} of ${formatUsdNumber(lot.face_value_usd)} left`}
          tone={lot.status !== 'ACTIVE' ? 'warning' : share < 0.15 ? 'danger' : 'brand'}
        />
        <div className="flex justify-between text-sm">
          <span className="tabular-nums">
            <strong>{formatUsdNumber(lot.remaining_usd)}</strong> <span className="text-slate-500">of {formatUsdNumber(lot.face_value_usd)} left</span>
          </span>
          <span className="text-slate-500">
            {lot.status === 'EXPIRED' || days <= 0 ? `expired ${dateFormat.format(expires)}` : `expires ${dateFormat.format(expires)}${days <= 14 ? ` (${days} day${days === 1 ? '' : 's'})` : ''}`}
          </span>
        </div>
      </Card>
    </li>
  );
}
