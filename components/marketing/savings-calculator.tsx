'use client';

import { useId, useMemo, useState } from 'react';
import { Card } from '@/components/ui';
import { SPEND_STOPS, nearestStop, quoteSavings, type SavingsPack } from '@/lib/savings';
import { formatCents } from './format';

/** Packs cross the server/client boundary with their micro-USD amounts as decimal strings. */
export type SerializedSavingsPack = { id: string; name: string; price: string; faceValue: string };

const DEFAULT_SPEND = 2_000_000_000n; // $2,000 a month

export function SavingsCalculator({ packs: serialized }: { packs: SerializedSavingsPack[] }) {
  const packs = useMemo<SavingsPack[]>(() => serialized.map((p) => ({ ...p, price: BigInt(p.price), faceValue: BigInt(p.faceValue) })), [serialized]);
  const [index, setIndex] = useState(() => nearestStop(DEFAULT_SPEND));
  const spend = SPEND_STOPS[index]!;
  const quote = quoteSavings(spend, packs);
  const sliderId = useId();
  const spendText = formatCents(spend, { whole: true });
  // Rounded once: the saving shown is the spend minus the cost shown, so the two always add up.
  const withTollgateCents = roundToCents(quote.withTollgate);
  const savingCents = roundToCents(spend) - withTollgateCents;
  const percent = (quote.savingBasisPoints / 100).toFixed(1);

  return (
    <Card className="overflow-hidden" data-testid="savings-calculator">
      <div className="grid gap-0 lg:grid-cols-[1.2fr_1fr]">
        <div className="space-y-6 p-6 sm:p-8">
          <div className="space-y-1">
            <label htmlFor={sliderId} className="text-sm font-medium text-slate-700">
              Your monthly API spend at list price
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
          <p className="text-sm text-slate-500">
            Uses this instance&apos;s general credit packs: the best discount among packs whose whole credit one month of your spend uses up. Unused credit
            stays on your balance until the pack expires.
          </p>
        </div>
        <dl className="grid content-center gap-5 border-t border-slate-100 bg-slate-50 p-6 sm:p-8 lg:border-t-0 lg:border-l" aria-live="polite">
          <div>
            <dt className="text-sm text-slate-500">With Tollgate packs</dt>
            <dd className="text-2xl font-semibold tabular-nums" data-testid="calc-with-tollgate">
              {centsText(withTollgateCents)}
              <span className="text-sm font-normal text-slate-500"> / month</span>
            </dd>
          </div>
          <div>
            <dt className="text-sm text-slate-500">You save</dt>
            <dd className="text-3xl font-semibold text-emerald-700 tabular-nums" data-testid="calc-saving">
              {centsText(savingCents)}
              <span className="text-sm font-normal text-slate-500"> / month</span>
            </dd>
            <dd className="text-sm text-slate-600" data-testid="calc-saving-detail">
              {quote.pack ? (
                <>
                  {percent}% less · {centsText(savingCents * 12n)} a year
                </>
              ) : (
                'No pack fits this spend yet'
              )}
            </dd>
          </div>
          <div>
            <dt className="text-sm text-slate-500">Best pack for this spend</dt>
            <dd className="text-sm font-medium text-slate-900" data-testid="calc-pack">
              {quote.pack ? `${quote.pack.name}: ${formatCents(quote.pack.faceValue)} of credit for ${formatCents(quote.pack.price)}` : '—'}
            </dd>
          </div>
        </dl>
      </div>
    </Card>
  );
}

/** Micro-USD to whole cents, half up. */
function roundToCents(micros: bigint): bigint {
  return (micros + 5_000n) / 10_000n;
}

function centsText(cents: bigint): string {
  return formatCents(cents * 10_000n);
}
