'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button, ConfirmDialog, Dialog, EmptyState, ErrorState, Spinner } from '@/components/ui';
import { ApiError, apiFetch, type AccountView, type KeyView } from './api';
import { KeyForm, type CatalogModel } from './key-form';
import { KeyList } from './key-list';
import { playgroundKeyIdOf, splitRevoked } from './key-state';
import { snippetModel, usageSnippets } from './usage-snippet';

type Body = Record<string, unknown>;

/** Said once a copy worked, for screen readers (the button's own "Copied" is not announced). */
function CopiedAnnouncement({ copied, what }: { copied: boolean; what: string }) {
  return (
    <span className="sr-only" aria-live="polite">
      {copied ? `${what} copied to the clipboard` : ''}
    </span>
  );
}

/** A labelled block of text to paste, with its own Copy button. */
function CopyBlock({ label, text, testId }: { label: string; text: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="space-y-1">
      <div className="flex items-center justify-between gap-2">
        <span className="text-sm font-medium text-slate-800">{label}</span>
        <Button size="sm" variant="ghost" onClick={() => void navigator.clipboard.writeText(text).then(() => setCopied(true))} data-testid={`copy-${testId}`}>
          {/* The name starts with the visible word (axe: label-content-name-mismatch) and says what is copied. */}
          {copied ? 'Copied' : 'Copy'}
          <span className="sr-only"> {label}</span>
        </Button>
      </div>
      {/* Focusable so keyboard users can scroll a long line sideways. */}
      <pre tabIndex={0} className="overflow-x-auto rounded-lg bg-slate-900 px-3 py-2 font-mono text-xs text-slate-100" data-testid={testId}>
        {text}
      </pre>
      <CopiedAnnouncement copied={copied} what={label} />
    </div>
  );
}

/** The secret, once: copy it now, it cannot be shown again; and how to use it, ready to paste. */
function SecretDialog({ secret, model, onClose }: { secret: string | null; model: string; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const snippets = secret ? usageSnippets({ origin: window.location.origin, secret, model }) : null;
  return (
    <Dialog
      open={secret !== null}
      onClose={onClose}
      title="Your new API key"
      description="Copy it now. For your security only its hash is stored: it will not be shown again."
      className="w-[min(40rem,calc(100vw-2rem))]"
      footer={
        <Button onClick={onClose} data-testid="secret-done">
          I have copied it
        </Button>
      }
    >
      <div className="flex items-center gap-2">
        {/* Focusable: a phone shows part of the key, and keyboard users scroll the rest. */}
        <code tabIndex={0} className="min-w-0 flex-1 overflow-x-auto rounded-lg bg-slate-900 px-3 py-2 font-mono text-sm whitespace-nowrap text-slate-100" data-testid="new-key-secret">
          {secret}
        </code>
        <Button
          variant="secondary"
          onClick={() => {
            void navigator.clipboard.writeText(secret ?? '').then(() => setCopied(true));
          }}
          data-testid="copy-secret"
        >
          {copied ? 'Copied' : 'Copy'}
        </Button>
      </div>
      <p role="note" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200">
        Treat it like a password: anyone with this key can spend your credit within its limits. Keep it out of code repositories and browsers.
      </p>
      {snippets ? (
        <div className="space-y-3" data-testid="key-usage">
          <p className="text-sm text-slate-600">Try it now, or point any OpenAI SDK at this server:</p>
          <CopyBlock label="curl" text={snippets.curl} testId="snippet-curl" />
          <CopyBlock label="Environment variables (shell)" text={snippets.env} testId="snippet-env" />
        </div>
      ) : null}
      <CopiedAnnouncement copied={copied} what="Key" />
    </Dialog>
  );
}

/** Create, list, edit and revoke API keys, over /api/keys. */
export function KeysManager({ models }: { models: Array<CatalogModel & { kind: 'chat' | 'embedding' }> }) {
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['keys'], queryFn: () => apiFetch<{ data: KeyView[] }>('/api/keys').then((r) => r.data) });
  const account = useQuery({ queryKey: ['account'], queryFn: () => apiFetch<AccountView>('/api/account') });
  const linkedWallet = account.data?.user.wallet_address ?? null;
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<KeyView | null>(null);
  const [revoking, setRevoking] = useState<KeyView | null>(null);
  /** The new key's secret, shown once, and the model its snippet calls (one the key may use). */
  const [created, setCreated] = useState<{ secret: string; model: string } | null>(null);

  const invalidate = () => queryClient.invalidateQueries({ queryKey: ['keys'] });
  const create = useMutation({
    mutationFn: (body: Body) => apiFetch<KeyView & { key: string }>('/api/keys', { method: 'POST', body }),
    onSuccess: (key) => {
      setCreating(false);
      setCreated({ secret: key.key, model: snippetModel(key.models, models) });
      void invalidate();
    },
  });
  const update = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Body }) => apiFetch<KeyView>(`/api/keys/${id}`, { method: 'PATCH', body }),
    onSuccess: () => {
      setEditing(null);
      void invalidate();
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => apiFetch<KeyView>(`/api/keys/${id}`, { method: 'DELETE' }),
    onSuccess: () => {
      setRevoking(null);
      void invalidate();
    },
  });
  const serverError = (error: Error | null) => (error ? { message: error.message, param: error instanceof ApiError ? error.param : null } : null);

  const { active: list, revoked } = splitRevoked(keys.data?.filter((k) => k.kind === 'inference') ?? []);
  const playgroundKeyId = playgroundKeyIdOf(keys.data ?? []);
  const keyActions = {
    onEdit: (key: KeyView) => {
      update.reset();
      setEditing(key);
    },
    onRevoke: (key: KeyView) => {
      revoke.reset();
      setRevoking(key);
    },
  };
  const management = keys.data?.filter((k) => k.kind === 'management') ?? [];

  return (
    <div className="space-y-6">
      <header className="flex flex-wrap items-end justify-between gap-4">
        <div className="space-y-2">
          <h1 className="text-3xl font-semibold tracking-tight">API keys</h1>
          <p className="max-w-2xl text-slate-600">
            One key works with every model through the OpenAI API. Give each app its own key, with a daily request quota and a daily budget: whichever runs out first stops it.
          </p>
        </div>
        <Button
          onClick={() => {
            create.reset();
            setCreating(true);
          }}
          data-testid="create-key"
        >
          Create key
        </Button>
      </header>

      {keys.isPending ? (
        <div className="flex items-center gap-2 text-sm text-slate-500" role="status">
          <Spinner /> Loading your keys…
        </div>
      ) : keys.isError ? (
        <ErrorState
          title="Could not load your keys"
          message={keys.error.message}
          action={
            <Button variant="secondary" size="sm" onClick={() => void keys.refetch()}>
              Try again
            </Button>
          }
        />
      ) : list.length === 0 ? (
        <EmptyState
          title={revoked.length === 0 ? 'No API keys yet' : 'No active API keys'}
          message="Create a key, then call any model with the OpenAI SDK by changing the base URL."
          action={<Button onClick={() => setCreating(true)}>Create your first key</Button>}
        />
      ) : (
        <KeyList keys={list} actions={keyActions} playgroundKeyId={playgroundKeyId} />
      )}

      {revoked.length > 0 ? (
        // Collapsed: revoked keys no longer work and only matter when reading old usage.
        <details className="group rounded-xl ring-1 ring-slate-200" data-testid="revoked-keys">
          <summary className="cursor-pointer rounded-xl px-4 py-3 text-sm font-medium text-slate-700 hover:bg-slate-50">
            Revoked keys ({revoked.length})
          </summary>
          <div className="p-3 pt-0">
            <KeyList keys={revoked} actions={keyActions} playgroundKeyId={playgroundKeyId} label="Your revoked API keys" />
          </div>
        </details>
      ) : null}

      {management.length > 0 ? (
        <p className="text-sm text-slate-500">
          You also have {management.length} management key{management.length > 1 ? 's' : ''} for scripts that manage keys (they cannot call models).
        </p>
      ) : null}

      <Dialog open={creating} onClose={() => !create.isPending && setCreating(false)} title="Create an API key" className="w-[min(40rem,calc(100vw-2rem))]">
        {creating ? (
          <KeyForm mode="create" models={models} linkedWallet={linkedWallet} submitLabel="Create key" pending={create.isPending} serverError={serverError(create.error)} onCancel={() => setCreating(false)} onSubmit={(body) => create.mutate(body)} />
        ) : null}
      </Dialog>

      <Dialog open={editing !== null} onClose={() => !update.isPending && setEditing(null)} title={`Edit ${editing?.name ?? 'key'}`} className="w-[min(40rem,calc(100vw-2rem))]">
        {editing ? (
          <KeyForm
            key={editing.id}
            mode="edit"
            models={models}
            linkedWallet={linkedWallet}
            initial={editing}
            submitLabel="Save changes"
            pending={update.isPending}
            serverError={serverError(update.error)}
            onCancel={() => setEditing(null)}
            onSubmit={(body) => update.mutate({ id: editing.id, body })}
          />
        ) : null}
      </Dialog>

      <ConfirmDialog
        open={revoking !== null}
        onClose={() => setRevoking(null)}
        onConfirm={() => revoking && revoke.mutate(revoking.id)}
        title={`Revoke ${revoking?.name ?? 'this key'}?`}
        description={
          <>
            Requests with <span className="font-mono">{revoking?.display}</span> are refused from now on, on every server. This cannot be undone.
          </>
        }
        confirmLabel="Revoke key"
        variant="danger"
        loading={revoke.isPending}
        error={revoke.error?.message}
      />

      <SecretDialog
        secret={created?.secret ?? null}
        model={created?.model ?? ''}
        onClose={() => {
          setCreated(null);
          // The mutation keeps its result (the secret) until reset: drop it with the dialog.
          create.reset();
        }}
      />
    </div>
  );
}
