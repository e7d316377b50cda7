'use client';

import Link from 'next/link';
import { useId, useState } from 'react';
import { buttonClasses } from '@/components/ui';
import { formatCents } from './format';

export type SellerSectionProps = {
  livePools: number;
  providers: string[];
  /** Basis points; null when no pool is live (the example then uses `typicalRateBps`). */
  medianRateBps: number | null;
  lowestRateBps: number | null;
  highestRateBps: number | null;
  typicalRateBps: number;
  /** Micro-USD as a decimal string (a bigint does not cross to the client). */
  remaining: string;
};

const FACE_STOPS = [25, 50, 100, 250, 500, 1000, 2500, 5000];
const PROVIDER_NAMES: Record<string, string> = { anthropic: 'Anthropic', openai: 'OpenAI', google: 'Google', deepseek: 'DeepSeek' };
const percent = (bps: number) => `${(bps / 100).toLocaleString('en-US', { maximumFractionDigits: 2 })}%`;

/**
 * "List spare capacity. Earn when it gets used." With pools live, the figures are this instance's
 * own (how many, which providers, the rates sellers list at); the example earning uses the median
 * rate, or 60% when nothing is listed yet, and says which.
 */
export function SellerSection(props: SellerSectionProps) {
  const sliderId = useId();
  const [stop, setStop] = useState(2);
  const face = FACE_STOPS[stop]!;
  const rateBps = props.medianRateBps ?? props.typicalRateBps;
  // Whole cents: face value in dollars × rate in basis points.
  const earnMicros = BigInt(face) * 1_000_000n * BigInt(rateBps) / 10_000n;
  const live = props.livePools > 0;
  const faceText = formatCents(BigInt(face) * 1_000_000n, { whole: true });
  return (
    <section id="sell" aria-labelledby="sell-heading" className="grid gap-6 rounded-2xl bg-white p-6 ring-1 ring-slate-200 sm:p-8 lg:grid-cols-2" data-testid="seller-section">
      <div className="space-y-3">
        <h2 id="sell-heading" className="text-2xl font-semibold tracking-tight">
          List spare capacity. Earn when it gets used.
        </h2>
        <p className="text-slate-600">
          Prepaid credit or spare budget on an Anthropic, OpenAI, Google or DeepSeek account? List part of it as a pool. Buyers&apos; calls on that provider draw from
          pools first in, first out, with your key; you earn your rate of the provider&apos;s list price for what they use, paid weekly in USDC. Your key is verified,
          encrypted, and never shown again.
        </p>
        <p className="text-sm text-slate-600" data-testid="seller-market">
          {live ? (
            <>
              {props.livePools} {props.livePools === 1 ? 'pool is' : 'pools are'} live here ({props.providers.map((p) => PROVIDER_NAMES[p] ?? p).join(', ')}), offering{' '}
              {formatCents(BigInt(props.remaining), { whole: true })} at list price. Sellers list at {props.lowestRateBps === props.highestRateBps ? percent(rateBps) : `${percent(props.lowestRateBps!)} to ${percent(props.highestRateBps!)}`} of list
              {props.lowestRateBps === props.highestRateBps ? '' : ` (median ${percent(rateBps)})`}.
            </>
          ) : (
            <>No pools are listed on this instance yet: the first seller&apos;s calls are served before anyone else&apos;s.</>
          )}
        </p>
        <p className="text-sm text-slate-500">Buyers pay the same catalog price whichever key serves them; the platform keeps the difference between that and what sellers earn.</p>
        <Link href="/sell" className={buttonClasses({ variant: 'secondary' })}>
          Start selling
        </Link>
      </div>
      <div className="space-y-4 rounded-xl bg-slate-50 p-5 ring-1 ring-slate-200">
        <label htmlFor={sliderId} className="block text-sm font-medium text-slate-800">
          Face value you list: <span data-testid="seller-face">{faceText}</span>
        </label>
        <input
          id={sliderId}
          type="range"
          min={0}
          max={FACE_STOPS.length - 1}
          step={1}
          value={stop}
          onChange={(event) => setStop(Number(event.target.value))}
          aria-valuetext={faceText}
          className="w-full accent-brand-600"
        />
        <p className="text-slate-700">
          Fully used, it earns you <strong className="text-2xl text-slate-900" data-testid="seller-earn">{formatCents(earnMicros)}</strong>
        </p>
        <p className="text-xs text-slate-500">
          At {percent(rateBps)} of list price — {live ? "the median rate of this instance's live pools" : 'a typical rate; you choose yours when you list'}. Earnings stay pending for a holding period before they are
          paid out.
        </p>
      </div>
    </section>
  );
}
