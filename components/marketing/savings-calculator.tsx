'use client';

import { useId, useMemo, useState } from 'react';
import { Card } from '@/components/ui';
import { packOfferText } from '@/lib/packs/pack-bonus';
import { formatBasisPoints } from '@/lib/percent';
import { SPEND_STOPS, compareCosts, nearestStop, toCents, verdict, type SavingsPack } from '@/lib/pricing/savings';
import { formatCents } from './format';

/** Packs cross the server/client boundary with their micro-USD amounts as decimal strings. */
export type SerializedSavingsPack = { id: string; name: string; price: string; faceValue: string; validityDays: number };

/** The instance's charges in basis points, as decimal strings; a null fee means deposits are misconfigured. */
export type SerializedCharges = { markupBps: string; depositFeeBps: string | null };

const DEFAULT_SPEND = 2_000_000_000n; // $2,000 a month

export function SavingsCalculator({ packs: serialized, charges: rawCharges }: { packs: SerializedSavingsPack[]; charges: SerializedCharges }) {
  const packs = useMemo<SavingsPack[]>(() => serialized.map((p) => ({ ...p, price: BigInt(p.price), faceValue: BigInt(p.faceValue) })), [serialized]);
  const [index, setIndex] = useState(() => nearestStop(DEFAULT_SPEND));
  const sliderId = useId();
  const spend = SPEND_STOPS[index]!;
  const spendText = formatCents(spend, { whole: true });
  const markupBps = BigInt(rawCharges.markupBps);
  const feeBps = rawCharges.depositFeeBps === null ? null : BigInt(rawCharges.depositFeeBps);

  return (
    <Card className="overflow-hidden" data-testid="savings-calculator">
      <div className="grid gap-0 lg:grid-cols-[1.2fr_1fr]">
        <div className="space-y-6 p-6 sm:p-8">
          <div className="space-y-1">
            <label htmlFor={sliderId} className="text-sm font-medium text-slate-700">
              Your monthly API spend at the providers&apos; list prices
            </label>
            <output htmlFor={sliderId} className="block text-4xl font-semibold tracking-tight tabular-nums" data-testid="calc-spend">
              {spendText}
            </output>
          </div>
          <input
            id={sliderId}
            type="range"
            min={0}
            max={SPEND_STOPS.length - 1}
            step={1}
            value={index}
            onChange={(event) => setIndex(Number(event.target.value))}
            aria-valuetext={`${spendText} a month`}
            className="h-2 w-full cursor-pointer accent-brand-600"
            data-testid="calc-slider"
          />
          <div className="flex justify-between text-xs text-slate-500" aria-hidden>
            <span>{formatCents(SPEND_STOPS[0]!, { whole: true })}</span>
            <span>{formatCents(SPEND_STOPS.at(-1)!, { whole: true })}</span>
          </div>
          <p className="text-sm text-slate-600">
            Through Tollgate the same calls cost the list price plus a {formatBasisPoints(markupBps)} markup, paid from credit you deposit
            {feeBps === null ? '' : ` with a ${formatBasisPoints(feeBps)} deposit fee on top`}. A general credit pack gives more credit than it costs; it counts here only when
            one month of your usage spends its whole credit, at the pack&apos;s rate (credit left over stays on your balance until the pack expires).
          </p>
        </div>
        {feeBps === null ? (
          <div className="grid content-center border-t border-slate-100 bg-slate-50 p-6 text-sm text-slate-700 sm:p-8 lg:border-t-0 lg:border-l" data-testid="calc-unavailable">
            This instance&apos;s payment settings are invalid, so its deposit fee is unknown and no honest comparison can be made. See /status.
          </div>
        ) : (
          <Comparison spend={spend} packs={packs} markupBps={markupBps} feeBps={feeBps} />
        )}
      </div>
    </Card>
  );
}

function Comparison({ spend, packs, markupBps, feeBps }: { spend: bigint; packs: SavingsPack[]; markupBps: bigint; feeBps: bigint }) {
  const comparison = compareCosts(spend, packs, { markupBps, depositFeeBps: feeBps });
  const result = verdict(comparison);
  // The fee shown is the total shown minus the deposit shown, so the three figures add up on screen.
  const depositCents = toCents(comparison.deposit);
  const feeCents = result.totalCents - depositCents;
  const difference = centsText(result.differenceCents);
  const share = formatBasisPoints(result.basisPoints);
  return (
    <dl className="grid content-center gap-5 border-t border-slate-100 bg-slate-50 p-6 sm:p-8 lg:border-t-0 lg:border-l" aria-live="polite">
      <div>
        <dt className="text-sm text-slate-600">Direct from the providers</dt>
        <dd className="text-2xl font-semibold tabular-nums" data-testid="calc-direct">
          {centsText(result.directCents)}
          <span className="text-sm font-normal text-slate-600"> / month</span>
        </dd>
      </div>
      <div>
        <dt className="text-sm text-slate-600">Through Tollgate, fees included</dt>
        <dd className="text-2xl font-semibold tabular-nums" data-testid="calc-with-tollgate">
          {centsText(result.totalCents)}
          <span className="text-sm font-normal text-slate-600"> / month</span>
        </dd>
        <dd className="text-sm text-slate-600" data-testid="calc-breakdown">
          {formatCents(comparison.usage)} of usage at Tollgate&apos;s prices, paid with {centsText(depositCents)}
          {comparison.pack ? ` of ${comparison.pack.name} packs` : ' of deposited credit'}, plus the {formatBasisPoints(feeBps)} deposit fee of {centsText(feeCents)}
        </dd>
      </div>
      <div>
        <dt className="text-sm text-slate-600">The difference</dt>
        <dd
          className={`text-xl font-semibold tabular-nums ${result.kind === 'cheaper' ? 'text-emerald-700' : 'text-slate-900'}`}
          data-testid="calc-verdict"
        >
          {result.kind === 'dearer'
            ? `Tollgate costs ${difference} more a month (${share} more)`
            : result.kind === 'cheaper'
              ? `You save ${difference} a month (${share} less)`
              : 'The same as buying direct'}
        </dd>
      </div>
      <div>
        <dt className="text-sm text-slate-600">Cheapest way to pay for this usage</dt>
        <dd className="text-sm font-medium text-slate-900" data-testid="calc-pack">
          {comparison.pack ? `${comparison.pack.name} packs: ${packOfferText(comparison.pack)}` : 'Pay per call from your balance: no general pack fits a month of this usage'}
        </dd>
      </div>
    </dl>
  );
}

function centsText(cents: bigint): string {
  return formatCents(cents * 10_000n);
}
