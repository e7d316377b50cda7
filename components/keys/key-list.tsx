'use client';

import Link from 'next/link';
import { Badge, Button, Card } from '@/components/ui';
import { formatDate, formatDateTime, formatUsd, type KeyView } from './api';
import { limitReachedSentence, limitsReached } from './key-state';

export type KeyActions = {
  onEdit: (key: KeyView) => void;
  onRevoke: (key: KeyView) => void;
};

/** What the list needs besides the keys: the one the playground chats with (key-state playgroundKeyIdOf). */
type ListContext = { actions: KeyActions; playgroundKeyId: string | null };

function keyStatus(key: KeyView): { label: string; tone: 'success' | 'danger' | 'neutral' } {
  if (key.revoked_at) return { label: 'revoked', tone: 'danger' };
  if (key.expires_at && new Date(key.expires_at).getTime() <= Date.now()) return { label: 'expired', tone: 'neutral' };
  return { label: 'active', tone: 'success' };
}

// Secondary text is slate-500, not 400: the lighter grey fails 4.5:1 contrast on white, which axe
// counts as serious.
function Limit({ used, limit, format }: { used: number; limit: number | null; format: (n: number) => string }) {
  return (
    <span className="tabular-nums">
      {format(used)}
      <span className="text-slate-500"> / {limit === null ? '∞' : format(limit)}</span>
    </span>
  );
}

const countFormat = (n: number) => n.toLocaleString('en-US');

function Requests({ k }: { k: KeyView }) {
  return <Limit used={k.usage_today.requests} limit={k.limits.daily_requests} format={countFormat} />;
}

function Spent({ k }: { k: KeyView }) {
  return <Limit used={k.usage_today.spent_usd} limit={k.limits.daily_budget_usd} format={formatUsd} />;
}

const rateLimit = (key: KeyView) => `burst ${key.limits.rate_limit.burst}, ${key.limits.rate_limit.per_second}/s`;
const lastUsed = (key: KeyView) => (key.last_used_at ? formatDateTime(key.last_used_at) : 'never used');

/**
 * Edit and Revoke. The table and the cards each render a set; their test ids differ (`prefix`) so a
 * test id never matches twice in the page, and the hidden set is display: none, out of the
 * accessibility tree, so role and label locators find one button.
 */
function Actions({ keyView: key, actions, prefix }: { keyView: KeyView; actions: KeyActions; prefix: '' | 'key-card-' }) {
  if (key.revoked_at) return <span className="text-xs text-slate-500">revoked {formatDate(key.revoked_at)}</span>;
  return (
    <div className="flex justify-end gap-1">
      <Button size="sm" variant="ghost" onClick={() => actions.onEdit(key)} aria-label={`Edit limits of ${key.name}`} data-testid={prefix ? `${prefix}edit` : 'edit-key'}>
        Edit
      </Button>
      <Button
        size="sm"
        variant="ghost"
        className="text-red-700 hover:bg-red-50"
        onClick={() => actions.onRevoke(key)}
        aria-label={`Revoke ${key.name}`}
        data-testid={prefix ? `${prefix}revoke` : 'revoke-key'}
      >
        Revoke
      </Button>
    </div>
  );
}

function NameAndStatus({ k }: { k: KeyView }) {
  const status = keyStatus(k);
  const reached = status.label === 'active' ? limitsReached(k) : { requests: false, budget: false };
  return (
    <div className="flex flex-wrap items-center gap-2 font-medium text-slate-900">
      <span className="min-w-0 break-words">{k.name}</span> <Badge tone={status.tone}>{status.label}</Badge>
      {reached.requests || reached.budget ? (
        <Badge tone="warning" data-testid="limit-badge">
          {reached.requests && reached.budget ? 'limits reached' : reached.requests ? 'request limit reached' : 'budget used up'}
        </Badge>
      ) : null}
      {k.packs_only ? <Badge tone="brand">packs only</Badge> : null}
    </div>
  );
}

/** Why a key is stopped for today, and whether it is the key the playground chats with. */
function keyNotes(k: KeyView, playgroundKeyId: string | null) {
  return { limit: keyStatus(k).label === 'active' ? limitReachedSentence(k) : null, playground: k.id === playgroundKeyId };
}

/** Under the name (cards) or under the row (table): the notes of keyNotes, when there are any. */
function KeyNotes({ notes }: { notes: ReturnType<typeof keyNotes> }) {
  return (
    <>
      {notes.limit ? (
        <p className="mt-1 rounded-md bg-amber-50 px-2 py-1 text-xs text-amber-900 ring-1 ring-amber-200" data-testid="limit-reached">
          {notes.limit}
        </p>
      ) : null}
      {notes.playground ? (
        <p className="mt-1 text-xs text-slate-600" data-testid="playground-key-note">
          Made for you by the <Link href="/playground" className="underline">
            playground
          </Link>, which chats with this key; its limits apply there. Revoke it and the playground makes a new one.
        </p>
      ) : null}
    </>
  );
}

/** Below `md`: one card per key, every field and both buttons within a phone's width. */
function KeyCards({ keys, actions, playgroundKeyId, label }: ListContext & { keys: KeyView[]; label: string }) {
  return (
    <ul className="space-y-3 md:hidden" aria-label={label} data-testid="key-cards">
      {keys.map((key) => (
        <li key={key.id} data-testid="key-card" data-key-id={key.id} data-status={keyStatus(key).label}>
          <Card className="space-y-3 p-4">
            <div className="min-w-0 space-y-1">
              <NameAndStatus k={key} />
              <div className="font-mono text-xs break-all text-slate-500">{key.display}</div>
              <KeyNotes notes={keyNotes(key, playgroundKeyId)} />
              {key.expires_at ? <div className="text-xs text-slate-500">expires {formatDate(key.expires_at)}</div> : null}
            </div>
            <dl className="grid grid-cols-[auto_minmax(0,1fr)] gap-x-4 gap-y-1 text-sm">
              <dt className="text-slate-500">Requests today</dt>
              <dd data-testid="key-card-requests-today">
                <Requests k={key} />
              </dd>
              <dt className="text-slate-500">Spent today</dt>
              <dd data-testid="key-card-spent-today">
                <Spent k={key} />
              </dd>
              <dt className="text-slate-500">Models</dt>
              <dd className="break-words text-slate-700">{key.models ? key.models.join(', ') : 'all'}</dd>
              <dt className="text-slate-500">Rate limit</dt>
              <dd className="text-slate-700 tabular-nums">{rateLimit(key)}</dd>
              <dt className="text-slate-500">Created</dt>
              <dd className="text-slate-700">{formatDate(key.created_at)}</dd>
              <dt className="text-slate-500">Last used</dt>
              <dd className="text-slate-700">{lastUsed(key)}</dd>
            </dl>
            <Actions keyView={key} actions={actions} prefix="key-card-" />
          </Card>
        </li>
      ))}
    </ul>
  );
}

/** From `md` up: the table, one row per key. */
function KeyTable({ keys, actions, playgroundKeyId, label }: ListContext & { keys: KeyView[]; label: string }) {
  return (
    // 880px wide from `md` (768px) up: between the two it scrolls in its own box, reachable by keyboard.
    <Card role="region" aria-label={label} tabIndex={0} className="hidden overflow-x-auto md:block focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-600">
      <table className="w-full min-w-[880px] text-left text-sm" data-testid="keys-table">
        <caption className="sr-only">{label} with their limits and today&apos;s usage</caption>
        <thead className="border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-500 uppercase">
          <tr>
            <th scope="col" className="px-4 py-3">Key</th>
            <th scope="col" className="px-4 py-3">Models</th>
            <th scope="col" className="px-4 py-3">Requests today</th>
            <th scope="col" className="px-4 py-3">Spent today</th>
            <th scope="col" className="px-4 py-3">Rate limit</th>
            <th scope="col" className="px-4 py-3">Created · last used</th>
            <th scope="col" className="px-4 py-3 text-right">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        {/* One row group per key: its notes get a row of their own under it, out of the row header,
            which names the key and nothing more. */}
        {keys.map((key) => {
          const notes = keyNotes(key, playgroundKeyId);
          return (
            <tbody key={key.id} className="border-t border-slate-100 first-of-type:border-t-0" data-testid="key-row" data-key-id={key.id} data-status={keyStatus(key).label}>
              <tr>
                <th scope="row" className="px-4 py-3 align-top font-normal">
                  <NameAndStatus k={key} />
                  <div className="font-mono text-xs text-slate-500">{key.display}</div>
                  {key.expires_at ? <div className="text-xs text-slate-500">expires {formatDate(key.expires_at)}</div> : null}
                </th>
                <td className="max-w-[12rem] px-4 py-3 align-top text-xs text-slate-600">{key.models ? key.models.join(', ') : 'all'}</td>
                <td className="px-4 py-3 align-top" data-testid="key-requests-today">
                  <Requests k={key} />
                </td>
                <td className="px-4 py-3 align-top" data-testid="key-spent-today">
                  <Spent k={key} />
                </td>
                <td className="px-4 py-3 align-top text-xs text-slate-600 tabular-nums">{rateLimit(key)}</td>
                <td className="px-4 py-3 align-top text-xs text-slate-600">
                  <div>{formatDate(key.created_at)}</div>
                  <div className="text-slate-500">{lastUsed(key)}</div>
                </td>
                <td className="px-4 py-3 text-right align-top whitespace-nowrap">
                  <Actions keyView={key} actions={actions} prefix="" />
                </td>
              </tr>
              {notes.limit || notes.playground ? (
                <tr>
                  <td colSpan={7} className="px-4 pt-0 pb-3">
                    <KeyNotes notes={notes} />
                  </td>
                </tr>
              ) : null}
            </tbody>
          );
        })}
      </table>
    </Card>
  );
}

/**
 * The inference keys: stacked cards below `md`, where the table's Edit and Revoke would sit
 * off-screen, and the table from `md` up. Both are rendered and one is hidden by CSS (as /sell's
 * pools are), so the page needs no JavaScript to pick a layout and never flashes the wrong one.
 */
export function KeyList({ keys, actions, playgroundKeyId, label = 'Your API keys' }: ListContext & { keys: KeyView[]; label?: string }) {
  return (
    <>
      <KeyCards keys={keys} actions={actions} playgroundKeyId={playgroundKeyId} label={label} />
      <KeyTable keys={keys} actions={actions} playgroundKeyId={playgroundKeyId} label={label} />
    </>
  );
}
