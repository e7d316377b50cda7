'use client';

import { useState, type FormEvent } from 'react';
import { Button, Field, Input, Textarea } from '@/components/ui';
import { waitlistSchema } from '@/lib/waitlist-schema';

type FieldName = 'email' | 'company' | 'use_case';
type Outcome = { kind: 'joined' | 'already_joined'; message: string } | { kind: 'error'; message: string } | null;

/** Email, optional company and use case; validated in the browser with the server's schema, then POST /api/waitlist. */
export function WaitlistForm() {
  const [values, setValues] = useState<Record<FieldName, string>>({ email: '', company: '', use_case: '' });
  const [errors, setErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [pending, setPending] = useState(false);

  const set = (name: FieldName) => (event: { target: { value: string } }) => {
    setValues((v) => ({ ...v, [name]: event.target.value }));
    if (errors[name]) setErrors((e) => ({ ...e, [name]: undefined }));
  };

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setOutcome(null);
    const parsed = waitlistSchema.safeParse(values);
    if (!parsed.success) {
      const next: Partial<Record<FieldName, string>> = {};
      for (const issue of parsed.error.issues) {
        const name = issue.path[0] as FieldName;
        next[name] ??= name === 'email' ? 'Enter a valid email address, like you@company.com.' : sentence(issue.message);
      }
      setErrors(next);
      document.getElementById(`waitlist-${Object.keys(next)[0]}`)?.focus();
      return;
    }
    setPending(true);
    try {
      const response = await fetch('/api/waitlist', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(parsed.data) });
      const body = (await response.json().catch(() => null)) as { status?: 'joined' | 'already_joined'; message?: string; error?: { message: string; param: string | null } } | null;
      if (response.ok && body?.status) {
        setOutcome({ kind: body.status, message: body.message ?? "You're on the list." });
        if (body.status === 'joined') setValues({ email: '', company: '', use_case: '' });
      } else if (response.status === 400 && body?.error?.param && ['email', 'company', 'use_case'].includes(body.error.param)) {
        setErrors({ [body.error.param as FieldName]: body.error.message });
      } else {
        setOutcome({ kind: 'error', message: body?.error?.message ?? 'Could not join the waitlist. Please try again.' });
      }
    } catch {
      setOutcome({ kind: 'error', message: 'Network error: could not reach the server. Please try again.' });
    } finally {
      setPending(false);
    }
  }

  return (
    <form onSubmit={(e) => void onSubmit(e)} noValidate className="space-y-4" aria-label="Join the waitlist" data-testid="waitlist-form">
      <Field label="Work email" error={errors.email} id="waitlist-email">
        <Input type="email" name="email" autoComplete="email" placeholder="you@company.com" value={values.email} onChange={set('email')} required />
      </Field>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Company" optional error={errors.company} id="waitlist-company">
          <Input name="company" autoComplete="organization" value={values.company} onChange={set('company')} maxLength={120} />
        </Field>
        <Field label="What will you build?" optional error={errors.use_case} id="waitlist-use_case">
          <Textarea name="use_case" rows={1} value={values.use_case} onChange={set('use_case')} maxLength={1000} className="min-h-[38px]" />
        </Field>
      </div>
      <div className="flex flex-wrap items-center gap-4">
        <Button type="submit" loading={pending}>
          Join the waitlist
        </Button>
        <p role="status" aria-live="polite" data-testid="waitlist-status" className={outcome?.kind === 'error' ? 'text-sm text-red-700' : 'text-sm text-emerald-700'}>
          {outcome?.message ?? ''}
        </p>
      </div>
    </form>
  );
}

/** "must be at most 120 characters" → "Must be at most 120 characters." */
function sentence(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1) + (message.endsWith('.') ? '' : '.');
}
