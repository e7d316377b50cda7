import Link from 'next/link';
import { cn } from '@/components/ui';
import type { WelcomeCreditView } from '@/lib/credits/welcome';

export type WelcomeCredit = WelcomeCreditView;

const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' });

function Dot() {
  return <span aria-hidden="true"> · </span>;
}

/**
 * "Welcome credit: $7.42 left · playground only · expires Jan 3, 2027": the new account's promo
 * credit, shown apart from the balance because API keys cannot spend it. Nothing once it is used
 * up or expired.
 */
export function WelcomeCreditNote({ credit, format, showPlaygroundLink = false, className }: { credit: WelcomeCredit | null | undefined; format: (usd: number) => string; showPlaygroundLink?: boolean; className?: string }) {
  if (!credit || credit.status !== 'ACTIVE') return null;
  return (
    <p className={cn('text-sm text-slate-600', className)} data-testid="welcome-credit">
      Welcome credit: <strong className="font-medium text-slate-900 tabular-nums">{format(credit.remaining_usd)}</strong> left
      <Dot />
      <span title="Pays for chats in the web playground only; calls with an API key are paid from your balance and packs.">playground only</span>
      <Dot />
      expires <time dateTime={credit.expires_at}>{dateFormat.format(new Date(credit.expires_at))}</time>
      {showPlaygroundLink ? (
        <>
          <Dot />
          <Link href="/playground" className="font-medium text-brand-600 hover:underline">
            Try it in the playground
          </Link>
        </>
      ) : null}
    </p>
  );
}
