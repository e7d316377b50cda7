'use client';

import { useRouter } from 'next/navigation';
import { signIn } from 'next-auth/react';
import { useState, type FormEvent } from 'react';
import { z } from 'zod';
import { Button, Field, Input } from '@/components/ui';

const emailSchema = z.email('Enter an email address like you@example.com');

/** Email magic link: next-auth mails (or, offline, files in the dev mailbox) a one-time link. */
export function EmailSignIn({ callbackUrl }: { callbackUrl: string }) {
  const router = useRouter();
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = emailSchema.safeParse(email.trim());
    if (!parsed.success) {
      setError(parsed.error.issues[0]!.message);
      return;
    }
    setError(null);
    setPending(true);
    try {
      const result = await signIn('email', { email: parsed.data, callbackUrl, redirect: false });
      if (!result || result.error) {
        setError(result?.error === 'AccessDenied' ? 'This account cannot sign in.' : 'We could not send the sign-in link. Try again in a moment.');
        return;
      }
      router.push(`/signin/check-email?email=${encodeURIComponent(parsed.data)}`);
    } finally {
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="space-y-3" data-testid="email-sign-in">
      <Field label="Email" error={error} hint="We send you a link that signs you in. No password.">
        <Input type="email" name="email" autoComplete="email" placeholder="you@example.com" value={email} onChange={(e) => setEmail(e.target.value)} required data-testid="email-input" />
      </Field>
      <Button type="submit" loading={pending} className="w-full" data-testid="email-submit">
        Email me a sign-in link
      </Button>
    </form>
  );
}
