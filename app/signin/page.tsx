import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { EmailSignIn } from '@/components/auth/email-sign-in';
import { OAuthButtons } from '@/components/auth/oauth-buttons';
import { WalletSignIn } from '@/components/auth/wallet-sign-in';
import { Card, CardBody } from '@/components/ui';
import { safeCallbackUrl, signInErrorMessage } from '@/lib/auth/callback-url';
import { devMailboxEnabled } from '@/lib/auth/mail';
import { oauthProviders } from '@/lib/auth/options';
import { currentUser } from '@/lib/auth/server';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Sign in' };

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const callbackUrl = safeCallbackUrl(params.callbackUrl);
  if (await currentUser()) redirect(callbackUrl);
  const error = signInErrorMessage(params.error);
  const oauth = oauthProviders();
  return (
    <div className="mx-auto max-w-md space-y-6">
      <header className="space-y-2 text-center">
        <h1 className="text-3xl font-semibold tracking-tight">Sign in to Tollgate</h1>
        <p className="text-slate-600">New here? Signing in creates your account, with free credit to try every model.</p>
      </header>
      {error ? (
        <div role="alert" className="rounded-xl border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800" data-testid="sign-in-error">
          {error}
        </div>
      ) : null}
      <Card>
        <CardBody className="space-y-6 py-6">
          <EmailSignIn callbackUrl={callbackUrl} />
          <div className="flex items-center gap-3 text-xs tracking-wide text-slate-500 uppercase">
            <span className="h-px flex-1 bg-slate-200" /> or <span className="h-px flex-1 bg-slate-200" />
          </div>
          <section aria-labelledby="wallet-heading" className="space-y-2">
            <h2 id="wallet-heading" className="text-sm font-medium text-slate-800">
              Ethereum wallet
            </h2>
            <WalletSignIn callbackUrl={callbackUrl} />
          </section>
          <OAuthButtons github={oauth.github} google={oauth.google} callbackUrl={callbackUrl} />
        </CardBody>
      </Card>
      {devMailboxEnabled() ? (
        <p className="text-center text-xs text-slate-500">
          No mail server is configured (SMTP_URL): sign-in links appear in the{' '}
          <a href="/dev/mailbox" className="font-medium text-brand-700 underline">
            development mailbox
          </a>{' '}
          and the server log.
        </p>
      ) : null}
    </div>
  );
}
