'use client';

import { ConnectButton } from '@rainbow-me/rainbowkit';
import Link from 'next/link';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState, type FormEvent } from 'react';
import { erc20Abi } from 'viem';
import { useAccount, useConfig, useSwitchChain, useWriteContract } from 'wagmi';
import { ApiError, Badge, Button, Card, CardBody, CardHeader, EmptyState, EnsureQueryClient, ErrorState, Field, Input, ProgressBar, Select, Spinner, fetchJson } from '@/components/ui';
import { formatAtomic, formatMicros, parseUsdMicros, quote, STATUS_LABELS, STATUS_TONES, usd, type Deposit, type DepositOptions } from './types';

const depositKeys = {
  list: ['deposits'] as const,
  one: (id: string) => ['deposits', id] as const,
};

const OPEN: Deposit['status'][] = ['awaiting_payment', 'verifying'];

/** Why deposits are closed, in the buyer's words; `operatorDetail` (setting names) only for admins. */
export type DepositsClosed = { reason: 'no_network' | 'invalid_config'; operatorDetail: string | null };

export function DepositFlow({ options, closed }: { options: DepositOptions | null; closed: DepositsClosed | null }) {
  return (
    <EnsureQueryClient>
      <Flow options={options} closed={closed} />
    </EnsureQueryClient>
  );
}

/** The fee comes first, before any form: what a buyer pays on top is the first thing they read. */
function FeeNotice({ feePercent }: { feePercent: number | null }) {
  const example = feePercent === null ? null : quote(100_000_000n, feePercent);
  return (
    <p className="rounded-lg border border-brand-100 bg-brand-50 px-4 py-3 text-sm text-slate-800" data-testid="deposit-fee">
      {example && feePercent !== null ? (
        <>
          <span className="font-semibold">Deposit fee: {feePercent}%</span>, added on top of the credit you buy: {formatMicros(example.credit)} of credit costs{' '}
          {formatMicros(example.gross)}.
        </>
      ) : (
        <>
          <span className="font-semibold">Deposit fee:</span> shown here as soon as deposits open on this instance.
        </>
      )}
    </p>
  );
}

function Closed({ closed }: { closed: DepositsClosed }) {
  const title = closed.reason === 'no_network' ? 'Deposits are not open on this instance yet' : 'Deposits are closed for now';
  // Static, part of the page as it loads: no live region, which would announce it out of reading order.
  return (
    <div className="space-y-3 rounded-xl border border-amber-200 bg-amber-50 px-5 py-4 text-sm text-amber-950" data-testid="deposits-closed">
      <p className="font-medium">{title}</p>
      <p>
        {closed.reason === 'no_network'
          ? 'The operator of this instance still has to set up a wallet address to receive USDC or USDT before you can pay in. Nothing can be sent or charged until then.'
          : 'The operator has to correct this instance\'s payment settings before deposits can open again. Nothing can be sent or charged until then.'}{' '}
        <Link href="/status" className="font-medium underline">
          See what works on this instance
        </Link>{' '}
        or{' '}
        <Link href="/packs" className="font-medium underline">
          buy credit packs
        </Link>{' '}
        instead.
      </p>
      {closed.operatorDetail ? (
        <p className="rounded-lg bg-white/70 px-3 py-2 text-xs text-slate-800" data-testid="operator-detail">
          <span className="font-medium">For you as the operator: </span>
          {closed.operatorDetail}
        </p>
      ) : null}
    </div>
  );
}

function Flow({ options, closed }: { options: DepositOptions | null; closed: DepositsClosed | null }) {
  const [activeId, setActiveId] = useState<string | null>(null);
  const open = options && options.networks.length > 0 && !closed;
  return (
    <div className="space-y-8">
      <header className="max-w-2xl space-y-3">
        <h1 className="text-3xl font-semibold tracking-tight">Add funds with USDC or USDT</h1>
        <FeeNotice feePercent={options?.fee_percent ?? null} />
        <p className="text-slate-600">
          Choose the credit you want; the fee is added on top and shown again before you pay. Send the exact amount from your wallet (one click when it is
          connected) or paste the transaction hash. Your balance is credited once the transfer is verified on chain.
        </p>
      </header>
      {open ? (
        <div className="grid gap-6 lg:grid-cols-[minmax(0,2fr)_minmax(0,3fr)]">
          <NewDeposit options={options} onCreated={setActiveId} />
          {activeId ? <ActiveDeposit id={activeId} /> : <EmptyState title="No deposit selected" message="Create one, or pick one from your deposits below." />}
        </div>
      ) : (
        <Closed closed={closed ?? { reason: 'no_network', operatorDetail: null }} />
      )}
      <History onSelect={setActiveId} activeId={activeId} />
    </div>
  );
}

function NewDeposit({ options, onCreated }: { options: DepositOptions; onCreated: (id: string) => void }) {
  const queryClient = useQueryClient();
  const [networkId, setNetworkId] = useState(options.networks[0]!.id);
  const network = options.networks.find((n) => n.id === networkId) ?? options.networks[0]!;
  const [asset, setAsset] = useState(network.assets[0]!.asset);
  const [credit, setCredit] = useState('10');
  const chosenAsset = network.assets.some((a) => a.asset === asset) ? asset : network.assets[0]!.asset;
  const creditMicros = parseUsdMicros(credit);
  const min = BigInt(Math.round(options.min_credit_usd * 1e6));
  const max = BigInt(Math.round(options.max_credit_usd * 1e6));
  const creditError =
    creditMicros === null ? 'Enter an amount in dollars, like 25 or 12.50.' : creditMicros < min || creditMicros > max ? `Between ${usd(options.min_credit_usd)} and ${usd(options.max_credit_usd)}.` : null;
  const math = creditMicros !== null && !creditError ? quote(creditMicros, options.fee_percent) : null;

  const create = useMutation({
    mutationFn: () => fetchJson<Deposit>('/api/deposits', { method: 'POST', body: JSON.stringify({ asset: chosenAsset, network: network.id, credit_usd: credit.trim() }) }),
    onSuccess: (deposit) => {
      queryClient.setQueryData(depositKeys.one(deposit.id), deposit);
      void queryClient.invalidateQueries({ queryKey: depositKeys.list });
      onCreated(deposit.id);
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!creditError) create.mutate();
  };

  return (
    <Card>
      <CardHeader title="New deposit" description={`Intents expire after ${options.intent_ttl_hours} hours if unpaid.`} />
      <CardBody>
        <form className="space-y-4" onSubmit={submit} data-testid="deposit-form">
          <Field label="Network">
            <Select value={network.id} onChange={(e) => setNetworkId(e.target.value)} name="network">
              {options.networks.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name}
                </option>
              ))}
            </Select>
          </Field>
          <Field label="Token" hint={network.assets.length === 1 ? `Only ${network.assets[0]!.asset} is available on ${network.name}.` : undefined}>
            <Select value={chosenAsset} onChange={(e) => setAsset(e.target.value as typeof asset)} name="asset">
              {network.assets.map((a) => (
                <option key={a.asset} value={a.asset}>
                  {a.asset}
                </option>
              ))}
            </Select>
          </Field>
          <Field label="Credit you want (USD)" error={credit.trim() ? creditError : null}>
            <Input inputMode="decimal" value={credit} onChange={(e) => setCredit(e.target.value)} name="credit_usd" autoComplete="off" />
          </Field>
          <dl className="space-y-1 rounded-lg bg-slate-50 px-4 py-3 text-sm" data-testid="fee-math">
            <div className="flex justify-between">
              <dt className="text-slate-600">Credit</dt>
              <dd className="tabular-nums">{math ? formatMicros(math.credit) : '—'}</dd>
            </div>
            <div className="flex justify-between">
              <dt className="text-slate-600">Deposit fee ({options.fee_percent}%)</dt>
              <dd className="tabular-nums">{math ? formatMicros(math.fee) : '—'}</dd>
            </div>
            <div className="flex justify-between border-t border-slate-200 pt-1 font-medium">
              <dt>You send</dt>
              <dd className="tabular-nums" data-testid="gross">
                {math ? `${formatAtomic(math.gross.toString(), 6)} ${chosenAsset}` : '—'}
              </dd>
            </div>
          </dl>
          {create.isError ? <ErrorState title="Could not create the deposit" message={create.error.message} /> : null}
          <Button type="submit" loading={create.isPending} disabled={!!creditError} className="w-full">
            Continue to payment
          </Button>
        </form>
      </CardBody>
    </Card>
  );
}

function ActiveDeposit({ id }: { id: string }) {
  const queryClient = useQueryClient();
  const deposit = useQuery({
    queryKey: depositKeys.one(id),
    queryFn: () => fetchJson<Deposit>(`/api/deposits/${id}`),
    // Live progress while the chain is being watched; stop once it is decided.
    refetchInterval: (query) => (query.state.data && OPEN.includes(query.state.data.status) ? 3_000 : false),
  });
  const attach = useMutation({
    mutationFn: (txHash: string) => fetchJson<Deposit>(`/api/deposits/${id}/tx`, { method: 'POST', body: JSON.stringify({ tx_hash: txHash }) }),
    onSuccess: (updated) => {
      queryClient.setQueryData(depositKeys.one(id), updated);
      void queryClient.invalidateQueries({ queryKey: depositKeys.list });
      if (updated.status === 'credited') void queryClient.invalidateQueries({ queryKey: ['account'] });
    },
  });

  if (deposit.isPending) {
    return (
      <Card>
        <CardBody className="flex items-center gap-2 text-sm text-slate-500">
          <Spinner /> Loading the deposit…
        </CardBody>
      </Card>
    );
  }
  if (deposit.isError) return <ErrorState message={deposit.error.message} />;
  const d = deposit.data;
  const amount = formatAtomic(d.gross_atomic, d.decimals);
  const canPay = d.status === 'awaiting_payment' || d.status === 'expired';

  return (
    <Card data-testid="active-deposit" data-status={d.status}>
      <CardHeader
        title={`Deposit ${usd(d.credit_usd)} of credit`}
        description={`${d.asset} on ${d.network_name}`}
        actions={
          <Badge tone={STATUS_TONES[d.status]}>
            <span data-testid="deposit-status">{STATUS_LABELS[d.status]}</span>
          </Badge>
        }
      />
      <CardBody className="space-y-5">
        <dl className="grid gap-x-4 gap-y-2 text-sm sm:grid-cols-[max-content_1fr]">
          <dt className="text-slate-500">Send exactly</dt>
          <dd className="font-medium tabular-nums">
            {amount} {d.asset} <span className="font-normal text-slate-500">(credit {usd(d.credit_usd)} + fee {usd(d.fee_usd)})</span>
          </dd>
          <dt className="text-slate-500">To (treasury)</dt>
          <dd className="break-all font-mono text-xs">{d.treasury}</dd>
          <dt className="text-slate-500">Token contract</dt>
          <dd className="break-all font-mono text-xs">{d.token_address}</dd>
          <dt className="text-slate-500">Expires</dt>
          <dd>{new Date(d.expires_at).toLocaleString()}</dd>
          {d.tx_hash ? (
            <>
              <dt className="text-slate-500">Transaction</dt>
              <dd className="break-all font-mono text-xs">
                {d.explorer_url ? (
                  <a className="text-brand-700 underline" href={d.explorer_url} target="_blank" rel="noreferrer">
                    {d.tx_hash}
                  </a>
                ) : (
                  d.tx_hash
                )}
              </dd>
            </>
          ) : null}
        </dl>

        {d.status === 'verifying' ? <Confirmations deposit={d} /> : null}
        {d.status === 'credited' ? (
          <p className="rounded-lg bg-emerald-50 px-4 py-3 text-sm text-emerald-800" role="status">
            {usd(d.credit_usd)} was added to your balance.
          </p>
        ) : null}
        {d.status === 'needs_review' && d.review ? (
          <p className="rounded-lg bg-amber-50 px-4 py-3 text-sm text-amber-900" role="status">
            An administrator will look at this deposit: {d.review.message} Nothing has been credited yet.
          </p>
        ) : null}
        {d.status === 'rejected' && d.review ? (
          <p className="rounded-lg bg-red-50 px-4 py-3 text-sm text-red-800" role="status">
            Rejected: {d.review.note ?? d.review.message}
          </p>
        ) : null}

        {canPay ? (
          <div className="space-y-4">
            <WalletPay deposit={d} onHash={(hash) => attach.mutateAsync(hash)} />
            <PasteHash onSubmit={(hash) => attach.mutate(hash)} pending={attach.isPending} />
          </div>
        ) : null}
        {attach.isError ? <ErrorState title="Could not attach the transaction" message={attach.error.message} /> : null}
      </CardBody>
    </Card>
  );
}

function Confirmations({ deposit }: { deposit: Deposit }) {
  const required = deposit.confirmations.required ?? 1;
  const seen = Math.min(deposit.confirmations.seen, required);
  return (
    <div className="space-y-2" role="status">
      <div className="flex items-center justify-between text-sm">
        <span className="flex items-center gap-2 text-slate-700">
          <Spinner /> {seen === 0 ? 'Waiting for the transaction to appear on chain…' : 'Waiting for confirmations…'}
        </span>
        <span className="tabular-nums text-slate-500" data-testid="confirmations">
          {seen} / {required}
        </span>
      </div>
      <ProgressBar value={seen} max={required} label="Confirmations" valueText={`${seen} of ${required} confirmations`} />
    </div>
  );
}

function WalletPay({ deposit, onHash }: { deposit: Deposit; onHash: (hash: string) => Promise<unknown> }) {
  const config = useConfig();
  const { isConnected, chainId } = useAccount();
  const { switchChainAsync } = useSwitchChain();
  const { writeContractAsync } = useWriteContract();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const supported = useMemo(() => config.chains.some((c) => c.id === deposit.chain_id), [config.chains, deposit.chain_id]);

  if (!supported) {
    return <p className="text-sm text-slate-500">Paying from a connected wallet is not set up for {deposit.network_name} here; send the transfer from any wallet and paste its hash.</p>;
  }

  const pay = async () => {
    setBusy(true);
    setError(null);
    try {
      if (chainId !== deposit.chain_id) await switchChainAsync({ chainId: deposit.chain_id });
      const hash = await writeContractAsync({
        address: deposit.token_address,
        abi: erc20Abi,
        functionName: 'transfer',
        args: [deposit.treasury, BigInt(deposit.gross_atomic)],
        chainId: deposit.chain_id,
      });
      // The hash attaches to the intent by itself; verification starts at once.
      await onHash(hash);
    } catch (caught) {
      const message = caught instanceof ApiError ? caught.message : caught instanceof Error ? (caught as Error & { shortMessage?: string }).shortMessage ?? caught.message : String(caught);
      setError(message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="space-y-2 rounded-lg border border-slate-200 p-4">
      <p className="text-sm font-medium text-slate-900">Pay from your wallet</p>
      {isConnected ? (
        <Button onClick={() => void pay()} loading={busy} data-testid="pay-with-wallet">
          Send {formatAtomic(deposit.gross_atomic, deposit.decimals)} {deposit.asset}
        </Button>
      ) : (
        <ConnectButton label="Connect a wallet to pay" showBalance={false} chainStatus="none" />
      )}
      {error ? <p className="text-sm text-red-700" role="alert">{error}</p> : null}
    </div>
  );
}

function PasteHash({ onSubmit, pending }: { onSubmit: (hash: string) => void; pending: boolean }) {
  const [hash, setHash] = useState('');
  const valid = /^0x[0-9a-fA-F]{64}$/.test(hash.trim());
  return (
    <form
      className="space-y-2 rounded-lg border border-slate-200 p-4"
      onSubmit={(event) => {
        event.preventDefault();
        if (valid) onSubmit(hash.trim());
      }}
    >
      <Field label="Or paste the transaction hash" error={hash.trim() && !valid ? 'A transaction hash is 0x followed by 64 hexadecimal characters.' : null}>
        <Input value={hash} onChange={(e) => setHash(e.target.value)} placeholder="0x…" className="font-mono" name="tx_hash" autoComplete="off" />
      </Field>
      <Button type="submit" variant="secondary" loading={pending} disabled={!valid}>
        Attach transaction
      </Button>
    </form>
  );
}

function History({ onSelect, activeId }: { onSelect: (id: string) => void; activeId: string | null }) {
  const list = useQuery({
    queryKey: depositKeys.list,
    queryFn: async () => (await fetchJson<{ data: Deposit[] }>('/api/deposits')).data,
    refetchInterval: (query) => (query.state.data?.some((d) => OPEN.includes(d.status)) ? 5_000 : false),
  });
  return (
    <Card>
      <CardHeader title="Your deposits" />
      {list.isPending ? (
        <CardBody className="flex items-center gap-2 text-sm text-slate-500">
          <Spinner /> Loading…
        </CardBody>
      ) : list.isError ? (
        <CardBody>
          <ErrorState message={list.error.message} />
        </CardBody>
      ) : list.data.length === 0 ? (
        <CardBody className="text-sm text-slate-500">No deposits yet.</CardBody>
      ) : (
        <ul className="divide-y divide-slate-100" data-testid="deposit-history">
          {list.data.map((d) => (
            <li key={d.id}>
              <button
                type="button"
                onClick={() => onSelect(d.id)}
                aria-current={d.id === activeId || undefined}
                className="flex w-full items-center justify-between gap-4 px-5 py-3 text-left text-sm hover:bg-slate-50 aria-[current]:bg-brand-50"
              >
                <span>
                  <span className="font-medium">{usd(d.credit_usd)}</span> <span className="text-slate-500">· {d.asset} on {d.network_name} · {new Date(d.created_at).toLocaleString()}</span>
                </span>
                <Badge tone={STATUS_TONES[d.status]}>{STATUS_LABELS[d.status]}</Badge>
              </button>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
