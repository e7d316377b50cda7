'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button, Card, ConfirmDialog, EmptyState, ErrorState, Spinner } from '@/components/ui';
import { ApiError } from '@/components/ui/fetch-json';
import { EarningsPanel } from './earnings';
import { createPool, listPools, providerName, revokePool, setPoolStatus, type PoolView } from './api';
import { PoolForm } from './pool-form';
import type { CreatePoolBody } from './pool-form-values';
import { PoolList } from './pool-list';

const serverError = (error: Error | null) => (error ? { message: error.message, param: error instanceof ApiError ? error.param : null } : null);

/** What selling is, in plain words, and what of it works today. */
function Explainer() {
  return (
    <Card className="space-y-3 p-5 text-sm text-slate-700" data-testid="sell-explainer">
      <p>
        Have prepaid credit or spare budget on an Anthropic, OpenAI, Google or DeepSeek account? List part of it here as a <strong>pool</strong>.
      </p>
      <ul className="list-disc space-y-1 pl-5">
        <li>
          <strong>Face value</strong> is how much provider usage you offer, counted at the provider&apos;s list price.
        </li>
        <li>
          <strong>Rate</strong> is your share of that list price: you receive rate × list price of what buyers use. At 60%, $10 of usage at list price earns you $6.
        </li>
        <li>Your key is verified with one small live call, stored encrypted, and never shown again, to you or anyone. You can pause or revoke a pool at any time.</li>
      </ul>
      <p className="rounded-lg bg-slate-50 px-3 py-2 ring-1 ring-slate-200" data-testid="sell-how-it-pays">
        <strong>How it pays:</strong> buyers&apos; calls on your provider are served from live pools, oldest listing first, with the pool&apos;s key, and never beyond
        its face value. Each call earns you your rate of what it cost at the provider&apos;s list price. Earnings stay pending for a holding period (shown below), then are paid in USDC to the
        wallet linked to your account in a weekly payout. Buyers pay the usual catalog price whichever key serves them. If the provider refuses your key, the
        pool pauses and says why; resume it once the key works again.
      </p>
    </Card>
  );
}

/** List provider credit as pools, and pause, resume or revoke them, over /api/sell/pools. */
export function PoolsManager() {
  const queryClient = useQueryClient();
  const pools = useQuery({ queryKey: ['sell-pools'], queryFn: listPools });
  const [revoking, setRevoking] = useState<PoolView | null>(null);
  const [listed, setListed] = useState<PoolView | null>(null);

  const invalidate = () => queryClient.invalidateQueries({ queryKey: ['sell-pools'] });
  const create = useMutation({
    mutationFn: (body: CreatePoolBody) => createPool(body),
    onSuccess: (pool) => {
      setListed(pool);
      void invalidate();
    },
  });
  const status = useMutation({
    mutationFn: ({ id, to }: { id: string; to: 'paused' | 'live' }) => setPoolStatus(id, to),
    onSettled: () => void invalidate(),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => revokePool(id),
    onSuccess: () => {
      setRevoking(null);
      void invalidate();
    },
  });

  async function submit(body: CreatePoolBody): Promise<boolean> {
    setListed(null);
    try {
      await create.mutateAsync(body);
      return true;
    } catch {
      // Shown beside the form from create.error.
      return false;
    }
  }

  const list = pools.data ?? [];

  return (
    <div className="space-y-8">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Sell spare credit</h1>
        <p className="max-w-2xl text-slate-600">List provider credit you will not use, at a share of list price you choose.</p>
      </header>

      <Explainer />

      <section aria-labelledby="earnings-title" className="space-y-3" data-testid="sell-earnings">
        <EarningsPanel />
      </section>

      <section aria-labelledby="pool-form-title" className="space-y-3">
        <h2 id="pool-form-title" className="text-lg font-semibold">
          Add a pool
        </h2>
        <Card className="p-5">
          <PoolForm onSubmit={submit} pending={create.isPending} serverError={serverError(create.error)} />
          {listed ? (
            <p role="status" className="mt-4 rounded-lg bg-emerald-50 px-3 py-2 text-sm text-emerald-900" data-testid="pool-listed">
              Listed: {providerName(listed.provider)} key …{listed.key_hint}, verified. The key field is cleared; the key is not shown again.
            </p>
          ) : null}
        </Card>
      </section>

      <section aria-labelledby="pools-title" className="space-y-3">
        <h2 id="pools-title" className="text-lg font-semibold">
          Your pools
        </h2>
        {status.error ? (
          <p role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="pool-action-error">
            {status.error.message}
          </p>
        ) : null}
        {pools.isPending ? (
          <div className="flex items-center gap-2 text-sm text-slate-500" role="status">
            <Spinner /> Loading your pools…
          </div>
        ) : pools.isError ? (
          <ErrorState
            title="Could not load your pools"
            message={pools.error.message}
            action={
              <Button variant="secondary" size="sm" onClick={() => void pools.refetch()}>
                Try again
              </Button>
            }
          />
        ) : list.length === 0 ? (
          <EmptyState title="No pools yet" message="Add a pool above: pick the provider, paste a key, and choose the face value and your rate." className="py-8" />
        ) : (
          <PoolList
            pools={list}
            actions={{
              onPause: (pool) => status.mutate({ id: pool.id, to: 'paused' }),
              onResume: (pool) => status.mutate({ id: pool.id, to: 'live' }),
              onRevoke: (pool) => {
                revoke.reset();
                setRevoking(pool);
              },
              busyId: status.isPending ? (status.variables?.id ?? null) : null,
            }}
          />
        )}
      </section>

      <ConfirmDialog
        open={revoking !== null}
        onClose={() => !revoke.isPending && setRevoking(null)}
        onConfirm={() => revoking && revoke.mutate(revoking.id)}
        title={`Revoke the ${revoking ? providerName(revoking.provider) : ''} pool …${revoking?.key_hint ?? ''}?`}
        description="The pool is closed for good and its stored key is wiped. To list this credit again, add the key as a new pool."
        confirmLabel="Revoke pool"
        variant="danger"
        loading={revoke.isPending}
        error={revoke.error?.message}
      />
    </div>
  );
}
