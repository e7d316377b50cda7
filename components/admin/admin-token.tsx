'use client';

import { useState, useSyncExternalStore } from 'react';
import { Button, Card, CardBody, Field, Input } from '@/components/ui';

const TOKEN_STORAGE = 'tollgate.adminToken';
const TOKEN_EVENT = 'tollgate-admin-token';
const subscribeToken = (onChange: () => void) => {
  window.addEventListener(TOKEN_EVENT, onChange);
  return () => window.removeEventListener(TOKEN_EVENT, onChange);
};

/**
 * The admin token in sessionStorage (empty on the server, so hydration matches), shared by the
 * admin pages: a signed-in admin (ADMIN_EMAILS) needs none, an operator with ADMIN_TOKEN enters it once per tab.
 */
export function useAdminToken() {
  const token = useSyncExternalStore(subscribeToken, () => sessionStorage.getItem(TOKEN_STORAGE) ?? '', () => '');
  const save = (value: string) => {
    if (value) sessionStorage.setItem(TOKEN_STORAGE, value);
    else sessionStorage.removeItem(TOKEN_STORAGE);
    window.dispatchEvent(new Event(TOKEN_EVENT));
  };
  const headers: Record<string, string> | undefined = token ? { authorization: `Bearer ${token}` } : undefined;
  return [token, save, headers] as const;
}

/** Shown only when the admin API refused: enter (or forget) the instance's ADMIN_TOKEN. */
export function AdminTokenForm({ token, setToken, message }: { token: string; setToken: (value: string) => void; message?: string }) {
  const [draft, setDraft] = useState('');
  return (
    <Card>
      <CardBody>
        <form
          className="flex flex-wrap items-end gap-3"
          onSubmit={(event) => {
            event.preventDefault();
            setToken(draft.trim());
          }}
        >
          <Field label="Admin token" hint="ADMIN_TOKEN of this instance; kept in this browser tab only." className="min-w-72 flex-1">
            <Input type="password" value={draft} onChange={(e) => setDraft(e.target.value)} autoComplete="off" name="admin_token" />
          </Field>
          <Button type="submit" disabled={!draft.trim()}>
            Use token
          </Button>
          {token ? (
            <Button variant="ghost" onClick={() => setToken('')}>
              Forget token
            </Button>
          ) : null}
        </form>
        {message ? <p className="mt-3 text-sm text-red-700">{message}</p> : null}
      </CardBody>
    </Card>
  );
}
