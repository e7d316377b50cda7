'use client';

import { signIn } from 'next-auth/react';
import { Button } from '@/components/ui';

/** GitHub / Google, rendered only for the providers this instance has credentials for. */
export function OAuthButtons({ github, google, callbackUrl }: { github: boolean; google: boolean; callbackUrl: string }) {
  if (!github && !google) return null;
  return (
    <div className="grid gap-2 sm:grid-cols-2">
      {github ? (
        <Button variant="secondary" onClick={() => void signIn('github', { callbackUrl })}>
          Continue with GitHub
        </Button>
      ) : null}
      {google ? (
        <Button variant="secondary" onClick={() => void signIn('google', { callbackUrl })}>
          Continue with Google
        </Button>
      ) : null}
    </div>
  );
}
