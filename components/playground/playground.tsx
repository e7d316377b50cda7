'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { fetchIfSignedIn, fetchJson, Badge, Button, Card, EnsureQueryClient, Field, Select, Spinner, Textarea, buttonClasses, cn } from '@/components/ui';
import { WelcomeCreditNote, type WelcomeCredit } from '@/components/dashboard/welcome-credit';
import { formatUsdNumber } from '@/lib/money';
import { paidFrom, priceLine, settledUsage, type LotSummary, type PaidFrom } from './billing';
import { readSseData, type ChatChunk } from './sse';
import { STALL_LIMITS, startWatchdog } from './watchdog';

export type PlaygroundModel = {
  id: string;
  name: string;
  status: 'live' | 'unavailable' | 'disabled';
  reason: string | null;
  /** Tollgate's prices in USD per 1M tokens (null when the model has no offering). */
  inputPer1M: number | null;
  outputPer1M: number | null;
};

type Account = { user: { email: string | null }; balance_usd: number; available_usd: number; welcome_credit?: WelcomeCredit | null };

type Turn =
  | { role: 'user'; content: string }
  | {
      role: 'assistant';
      /** Patches find their turn by id: a late one (a stopped turn's cost) must not land on another. */
      id: number;
      content: string;
      model: string;
      state: 'streaming' | 'done' | 'stopped' | 'error';
      cost?: number;
      /** Who paid, when the gateway said (a finished reply's billing). */
      paid?: PaidFrom | null;
      balance?: number | null;
      /** What is left of the welcome credit, when it paid for this reply. */
      welcomeLeft?: number;
      tokens?: { prompt: number; completion: number };
      error?: { status: number; message: string; code: string | null };
    };

// One money format: lib/money's, which keeps a sub-cent cost's digits ($0.000123).
const usd = formatUsdNumber;

export function Playground(props: { models: PlaygroundModel[] }) {
  return (
    <EnsureQueryClient>
      <PlaygroundInner {...props} />
    </EnsureQueryClient>
  );
}

/** The signed-in account, or null when the visitor is signed out. */
const fetchAccount = () => fetchIfSignedIn<Account>('/api/account');

function PlaygroundInner({ models }: { models: PlaygroundModel[] }) {
  const live = models.filter((m) => m.status === 'live');
  const [model, setModel] = useState(() => (live.find((m) => m.id === 'tollgate-local') ?? live[0])?.id ?? '');
  const [system, setSystem] = useState('You are a helpful assistant. Answer briefly.');
  const [draft, setDraft] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [streaming, setStreaming] = useState(false);
  const abortRef = useRef<AbortController | null>(null);
  /** Aborted when the page goes away: ends the lookups that would patch a turn no longer shown. */
  const lifeRef = useRef<AbortController | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const endRef = useRef<HTMLDivElement>(null);
  const queryClient = useQueryClient();
  const account = useQuery({ queryKey: ['account'], queryFn: fetchAccount });
  const balance = account.data?.available_usd;
  const signedOut = account.data === null;
  const selected = models.find((m) => m.id === model);
  const selectedPrice = selected ? priceLine(selected) : null;

  useEffect(() => {
    endRef.current?.scrollIntoView({ block: 'nearest' });
  }, [turns]);
  useEffect(() => {
    const life = new AbortController();
    lifeRef.current = life;
    return () => {
      life.abort();
      abortRef.current?.abort();
    };
  }, []);

  const nextId = useRef(0);
  const updateTurn = (id: number, patch: (turn: AssistantTurn) => Partial<AssistantTurn>) =>
    setTurns((all) => all.map((t) => (t.role === 'assistant' && t.id === id ? { ...t, ...patch(t) } : t)));

  /** The lots, to name the pack that paid; fetched once, when a pack (not the welcome credit) first pays. */
  const lotsFor = (billing: ChatChunk['billing'], welcomeLotId: string | null) =>
    billing?.pack && billing.pack.id !== welcomeLotId ? queryClient.fetchQuery({ queryKey: ['lots'], queryFn: () => fetchJson<{ data: LotSummary[] }>('/api/lots').then((r) => r.data), staleTime: 60_000 }).catch(() => null) : Promise.resolve(null);

  /** A turn cut short: what the gateway billed once it saw the hang-up, and the new balance. */
  async function showSettledCost(id: number, requestId: string | null) {
    if (requestId) {
      const row = await settledUsage(requestId, { fetchJson: (path) => fetchJson(path), signal: lifeRef.current?.signal });
      if (row) updateTurn(id, () => ({ cost: row.cost_usd, tokens: { prompt: row.prompt_tokens, completion: row.completion_tokens } }));
    }
    void queryClient.invalidateQueries({ queryKey: ['account'] });
  }

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || streaming || !model) return;
    const history = turns.filter((t) => t.role === 'user' || (t.state !== 'error' && t.content)).map((t) => ({ role: t.role, content: t.content }));
    const messages = [...history, { role: 'user' as const, content: text }];
    const id = ++nextId.current;
    setTurns((all) => [...all, { role: 'user', content: text }, { role: 'assistant', id, content: '', model, state: 'streaming' }]);
    setDraft('');
    setStreaming(true);
    const controller = new AbortController();
    abortRef.current = controller;
    /** The silence that made the playground hang up, in ms; null while it has not. */
    let stalledAfter: number | null = null;
    let quietLimit: number = STALL_LIMITS.beforeHeadersMs;
    // Hanging up is what stops the upstream and bills only what was produced, as Stop does.
    const watchdog = startWatchdog(quietLimit, () => {
      stalledAfter = quietLimit;
      controller.abort();
    });
    let requestId: string | null = null;
    try {
      const response = await fetch('/api/playground/chat', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, system, messages }),
        signal: controller.signal,
      });
      quietLimit = STALL_LIMITS.midStreamMs;
      watchdog.kick(quietLimit);
      requestId = response.headers.get('x-request-id');
      if (!response.ok || !response.body || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
        const body = (await response.json().catch(() => null)) as { error?: { message?: string; code?: string } } | null;
        updateTurn(id, () => ({ state: 'error', error: { status: response.status, message: body?.error?.message ?? `The server answered ${response.status}.`, code: body?.error?.code ?? null } }));
        return;
      }
      // Every read is a sign of life, a heartbeat comment too: only real silence is a stall.
      for await (const data of readSseData(response.body, { onRead: () => watchdog.kick() })) {
        if (data === '[DONE]') break;
        let chunk: ChatChunk;
        try {
          chunk = JSON.parse(data) as ChatChunk;
        } catch {
          continue;
        }
        if (chunk.error) {
          updateTurn(id, () => ({ state: 'error', error: { status: 502, message: chunk.error?.message ?? 'The stream failed.', code: chunk.error?.code ?? null } }));
          return;
        }
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) updateTurn(id, (t) => ({ content: t.content + delta }));
        if (chunk.usage) {
          const usage = chunk.usage;
          const billing = chunk.billing;
          const welcome = queryClient.getQueryData<Account | null>(['account'])?.welcome_credit;
          const welcomeLotId = welcome?.lot_id ?? null;
          const welcomePaid = welcomeLotId && billing?.pack && billing.pack.id === welcomeLotId ? billing.pack : null;
          updateTurn(id, () => ({
            cost: usage.cost ?? billing?.charged_usd,
            balance: billing?.balance_usd ?? null,
            ...(welcomePaid ? { welcomeLeft: welcomePaid.remaining_usd } : {}),
            tokens: { prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0 },
          }));
          void lotsFor(billing, welcomeLotId).then((lots) => updateTurn(id, () => ({ paid: paidFrom(billing, lots, welcomeLotId) })));
          if (typeof billing?.balance_usd === 'number') {
            const next = billing.balance_usd;
            queryClient.setQueryData<Account | null>(['account'], (old) => (old ? { ...old, available_usd: next } : old));
          }
          if (welcomePaid) {
            queryClient.setQueryData<Account | null>(['account'], (old) =>
              old?.welcome_credit ? { ...old, welcome_credit: { ...old.welcome_credit, remaining_usd: welcomePaid.remaining_usd, status: welcomePaid.status } } : old,
            );
          }
        }
      }
      updateTurn(id, () => ({ state: 'done' }));
    } catch (error) {
      if (stalledAfter !== null) {
        const seconds = stalledAfter / 1000;
        updateTurn(id, () => ({
          state: 'error',
          error: { status: 0, message: `No reply for ${seconds} seconds: the stream stalled, so the playground hung up. You pay only for what arrived. Send again to retry.`, code: 'stream_stalled' },
        }));
        void showSettledCost(id, requestId);
      } else if (controller.signal.aborted) {
        updateTurn(id, () => ({ state: 'stopped' }));
        void showSettledCost(id, requestId);
      } else {
        updateTurn(id, () => ({ state: 'error', error: { status: 0, message: error instanceof Error ? `Connection lost: ${error.message}` : 'Connection lost.', code: null } }));
        // Once the stream had begun, what arrived is billed: show its cost when it settles.
        if (requestId) void showSettledCost(id, requestId);
      }
    } finally {
      watchdog.stop();
      abortRef.current = null;
      setStreaming(false);
    }
  }

  const onComposerKey = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  };

  return (
    <div className="grid gap-6 lg:grid-cols-[18rem_1fr]">
      <aside className="space-y-5">
        <div>
          <h1 className="text-2xl font-semibold tracking-tight">Playground</h1>
          <p className="mt-1 text-sm text-slate-600">Chat with any live model. Every reply is billed like an API call: from your welcome credit and packs first, then your balance.</p>
        </div>
        <Card className="space-y-4 p-4">
          <Field label="Model" hint={live.length === 0 ? 'No model is live on this instance.' : (selectedPrice ?? `${live.length} live model${live.length === 1 ? '' : 's'}`)}>
            <Select value={model} onChange={(e) => setModel(e.target.value)} disabled={streaming || live.length === 0} data-testid="playground-model">
              {models.map((m) => {
                const price = priceLine(m);
                return (
                  <option key={m.id} value={m.id} disabled={m.status !== 'live'}>
                    {m.name}
                    {m.status !== 'live' ? ` (${m.status})` : price ? ` — ${price}` : ''}
                  </option>
                );
              })}
            </Select>
          </Field>
          <Field label="System prompt" optional>
            <Textarea value={system} onChange={(e) => setSystem(e.target.value)} rows={4} maxLength={8000} disabled={streaming} data-testid="playground-system" />
          </Field>
        </Card>
        <Card className="p-4" data-testid="playground-balance">
          <div className="text-xs uppercase tracking-wide text-slate-500">Balance</div>
          {account.isPending ? (
            <Spinner label="Loading…" />
          ) : account.data ? (
            <>
              <div className="text-xl font-semibold tabular-nums">{usd(balance ?? 0)}</div>
              <WelcomeCreditNote credit={account.data.welcome_credit} format={usd} className="mt-2" />
              <div className="mt-2 flex gap-3 text-sm">
                <Link href="/packs" className="text-brand-600 hover:underline">
                  Buy packs
                </Link>
                <Link href="/deposit" className="text-brand-600 hover:underline">
                  Add funds
                </Link>
              </div>
            </>
          ) : account.data === null ? (
            <div className="space-y-2 text-sm text-slate-600">
              <p>Sign in to chat; replies are paid from your balance.</p>
              <Link href="/signin?callbackUrl=%2Fplayground" className={buttonClasses({ size: 'sm' })}>
                Sign in
              </Link>
            </div>
          ) : (
            <p className="text-sm text-slate-500">Balance unavailable.</p>
          )}
        </Card>
      </aside>

      <Card className="flex min-h-[32rem] flex-col">
        {turns.length > 0 ? (
          <div className="flex justify-end border-b border-slate-100 px-4 py-2">
            <Button
              size="sm"
              variant="ghost"
              onClick={() => {
                setTurns([]);
                // The button goes away with the turns: focus lands where the next message is typed.
                inputRef.current?.focus();
              }}
              disabled={streaming}
              data-testid="playground-clear"
            >
              Clear chat
            </Button>
          </div>
        ) : null}
        <div className="flex-1 space-y-4 overflow-y-auto p-5" aria-live="polite" aria-busy={streaming} data-testid="playground-transcript">
          {turns.length === 0 ? (
            <div className="grid h-full place-items-center py-16 text-center text-sm text-slate-500">
              <div>
                <p className="font-medium text-slate-700">Start a conversation</p>
                <p className="mt-1">Replies stream in token by token. Stop at any time: you pay only for what was produced.</p>
              </div>
            </div>
          ) : (
            turns.map((turn, i) => <TurnView key={i} turn={turn} />)
          )}
          <div ref={endRef} />
        </div>
        {signedOut ? (
          <div className="flex flex-col items-start gap-3 border-t border-slate-100 p-4 sm:flex-row sm:items-center sm:justify-between" data-testid="playground-signin">
            <p className="text-sm text-slate-700">Sign in to chat. New accounts get a welcome credit for the playground.</p>
            <Link href="/signin?callbackUrl=%2Fplayground" className={buttonClasses()}>
              Sign in to chat
            </Link>
          </div>
        ) : (
          <form onSubmit={(e) => void send(e)} className="border-t border-slate-100 p-4">
            <label htmlFor="playground-input" className="sr-only">
              Message
            </label>
            <div className="flex items-end gap-3">
              <Textarea
                id="playground-input"
                ref={inputRef}
                value={draft}
                onChange={(e) => setDraft(e.target.value)}
                onKeyDown={onComposerKey}
                rows={2}
                placeholder="Send a message (Enter to send, Shift+Enter for a new line)"
                className="resize-none"
                data-testid="playground-input"
              />
              {streaming ? (
                <Button variant="secondary" onClick={() => abortRef.current?.abort()} data-testid="playground-stop">
                  <span aria-hidden className="h-2.5 w-2.5 rounded-sm bg-slate-700" />
                  Stop
                </Button>
              ) : (
                <Button type="submit" disabled={!draft.trim() || !model} data-testid="playground-send">
                  Send
                </Button>
              )}
            </div>
          </form>
        )}
      </Card>
    </div>
  );
}

type AssistantTurn = Extract<Turn, { role: 'assistant' }>;

function TurnView({ turn }: { turn: Turn }) {
  if (turn.role === 'user') {
    return (
      <div className="flex justify-end">
        <div className="max-w-[85%] rounded-2xl rounded-br-sm bg-brand-600 px-4 py-2 text-sm whitespace-pre-wrap text-white">{turn.content}</div>
      </div>
    );
  }
  return (
    <div className="space-y-1.5" data-testid="assistant-turn" data-state={turn.state}>
      {/* A reply cut off by an error keeps what arrived: it was billed, and it may be all the user needed. */}
      <div className={cn('max-w-[85%] rounded-2xl rounded-bl-sm bg-slate-100 px-4 py-2 text-sm whitespace-pre-wrap text-slate-900', turn.state === 'error' && !turn.content && 'hidden')}>
        <span data-testid="assistant-text">{turn.content}</span>
        {turn.state === 'streaming' ? <span aria-hidden className="ml-0.5 inline-block h-4 w-1.5 animate-pulse bg-slate-400 align-text-bottom" /> : null}
      </div>
      {turn.state === 'error' && turn.error ? <TurnError error={turn.error} /> : null}
      <div className="flex flex-wrap items-center gap-2 text-xs text-slate-500" data-testid="assistant-meta">
        <span className="font-mono">{turn.model}</span>
        {turn.state === 'streaming' ? <span>streaming…</span> : null}
        {turn.state === 'stopped' ? <Badge tone="warning">stopped — billed only for what was produced</Badge> : null}
        {turn.cost !== undefined ? <span data-testid="assistant-cost">cost {usd(turn.cost)}</span> : null}
        {turn.paid ? <span data-testid="assistant-paid-from">paid from {turn.paid.label}</span> : null}
        {turn.tokens ? (
          <span>
            {turn.tokens.prompt} in / {turn.tokens.completion} out tokens
          </span>
        ) : null}
        {typeof turn.welcomeLeft === 'number' ? <span data-testid="assistant-welcome-credit">welcome credit {usd(turn.welcomeLeft)} left</span> : null}
        {typeof turn.balance === 'number' ? <span data-testid="assistant-balance">balance {usd(turn.balance)}</span> : null}
      </div>
    </div>
  );
}

function TurnError({ error }: { error: { status: number; message: string; code: string | null } }) {
  return (
    <div role="alert" className="max-w-[85%] rounded-xl border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800" data-testid="assistant-error">
      <p>{error.message}</p>
      {error.status === 402 ? (
        <p className="mt-2 flex gap-3">
          <Link href="/packs" className="font-medium underline">
            Buy a pack
          </Link>
          <Link href="/deposit" className="font-medium underline">
            Add funds
          </Link>
        </p>
      ) : error.status === 401 ? (
        <p className="mt-2">
          <Link href="/signin?callbackUrl=%2Fplayground" className="font-medium underline">
            Sign in
          </Link>
        </p>
      ) : null}
    </div>
  );
}
