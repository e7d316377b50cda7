import type { Metadata } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import { StatusBadge } from '@/components/status-badge';
import { getCatalogCache, listPublicModels, type PublicModel } from '@/lib/catalog/models';
import { getDb } from '@/lib/db/client';
import { ceilDiv, formatUsd, usdToMicros } from '@/lib/money';
import { packOfferText } from '@/lib/packs/pack-bonus';
import { formatBasisPoints } from '@/lib/percent';
import { instanceCharges, type InstanceCharges } from '@/lib/pricing/charges';
import { loadSavingsPacks, type SavingsPack } from '@/lib/pricing/savings';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Models & pricing' };

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });
const tokens = new Intl.NumberFormat('en-US');
const cell = 'px-4 py-3';
const numeric = `${cell} text-right tabular-nums`;

export default async function PricingPage() {
  const [catalog, cached, packs] = await Promise.all([listPublicModels(), getCatalogCache().get(), loadSavingsPacks(getDb())]);
  const charges = instanceCharges(cached);
  const models = catalog.filter((m) => m.kind === 'chat');
  const embeddingModels = catalog.filter((m) => m.kind === 'embedding');
  return (
    <div className="space-y-8">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Models & pricing</h1>
        <p className="max-w-2xl text-slate-600">
          Prices per million tokens, in US dollars: the provider&apos;s own list price beside what Tollgate charges to your credit. You pay for the tokens a call
          actually uses; a failed call costs nothing.
        </p>
      </header>
      <Charges charges={charges} packs={packs} />
      <PriceTable
        id="chat-pricing"
        testId="pricing-table"
        caption="Chat models with their provider, status, context window, the provider's list prices, Tollgate's prices and the markup between them"
        headers={['Context', 'Provider list input / 1M', 'Tollgate input / 1M', 'Provider list output / 1M', 'Tollgate output / 1M', 'Markup']}
        rows={models.map((model) => (
          <tr key={model.id}>
            <ModelCells model={model} />
            <td className={`${numeric} text-slate-600`}>{tokens.format(model.contextLength)}</td>
            <td className={`${numeric} text-slate-600`}>{price(model.listInputPer1M)}</td>
            <td className={numeric}>{price(model.inputPer1M)}</td>
            <td className={`${numeric} text-slate-600`}>{price(model.listOutputPer1M)}</td>
            <td className={numeric}>{price(model.outputPer1M)}</td>
            <td className={numeric}>{model.markupBps === null ? '—' : formatBasisPoints(model.markupBps)}</td>
          </tr>
        ))}
      />
      {embeddingModels.length > 0 ? (
        <section aria-labelledby="embedding-pricing-heading" className="space-y-2">
          <h2 id="embedding-pricing-heading" className="text-xl font-semibold tracking-tight">
            Embedding models
          </h2>
          <p className="max-w-2xl text-sm text-slate-600">
            For <code className="rounded bg-slate-100 px-1 font-mono text-xs">POST /v1/embeddings</code>, billed per input token; there is no output to pay for. The built-in one
            hashes words into a vector offline: for tests and demos, not for search quality.
          </p>
          <PriceTable
            id="embedding-pricing"
            testId="embedding-pricing-table"
            caption="Embedding models with their provider, status, input limit, vector length, the provider's list input price, Tollgate's input price and the markup"
            headers={['Tokens per input', 'Dimensions', 'Provider list input / 1M', 'Tollgate input / 1M', 'Markup']}
            rows={embeddingModels.map((model) => (
              <tr key={model.id}>
                <ModelCells model={model} />
                <td className={`${numeric} text-slate-600`}>{tokens.format(model.contextLength)}</td>
                <td className={`${numeric} text-slate-600`}>{model.dimensions === null ? '—' : tokens.format(model.dimensions)}</td>
                <td className={`${numeric} text-slate-600`}>{price(model.listInputPer1M)}</td>
                <td className={numeric}>{price(model.inputPer1M)}</td>
                <td className={numeric}>{model.markupBps === null ? '—' : formatBasisPoints(model.markupBps)}</td>
              </tr>
            ))}
          />
        </section>
      ) : null}
    </div>
  );
}

function price(value: number | null): string {
  return value === null ? '—' : usd.format(value);
}

/** What is added to the providers' prices, in plain words, with a worked figure for each. */
function Charges({ charges: { markup, depositFeeBps }, packs }: { charges: InstanceCharges; packs: SavingsPack[] }) {
  const hundred = usdToMicros('100');
  const best = [...packs].sort((a, b) => (b.faceValue * a.price > a.faceValue * b.price ? 1 : -1))[0];
  const markupText = !markup ? null : markup.minBps === markup.maxBps ? formatBasisPoints(markup.maxBps) : `${formatBasisPoints(markup.minBps)} to ${formatBasisPoints(markup.maxBps)}`;
  return (
    <section id="charges" aria-labelledby="charges-heading" className="max-w-3xl scroll-mt-6 space-y-3 rounded-xl border border-slate-200 bg-white p-5 sm:p-6">
      <h2 id="charges-heading" className="text-lg font-semibold">
        What Tollgate adds to the providers&apos; prices
      </h2>
      <ul className="list-disc space-y-2 pl-5 text-sm text-slate-700" data-testid="pricing-charges">
        <li data-testid="charges-markup">
          {markupText ? (
            <>
              <strong>A {markupText} markup on every call.</strong> Tollgate&apos;s price is the provider&apos;s list price plus {markupText}, rounded up to the
              micro-dollar; the table shows both, model by model.
            </>
          ) : (
            'No model is on sale yet, so there is no markup to show.'
          )}
        </li>
        <li data-testid="charges-deposit-fee">
          {depositFeeBps === null ? (
            <>
              <strong>A deposit fee</strong> applies to the money you deposit, but this instance&apos;s payment settings are invalid right now, so it cannot be shown (see{' '}
              <Link href="/status" className="text-brand-700 underline underline-offset-2">
                /status
              </Link>
              ).
            </>
          ) : (
            <>
              <strong>A {formatBasisPoints(depositFeeBps)} fee on deposits.</strong> Credit reaches your balance by a stablecoin deposit, and the fee is added on top of the
              credit you buy: {formatUsd(hundred)} of credit costs {formatUsd(hundred + ceilDiv(hundred * depositFeeBps, 10_000n))}.
            </>
          )}
        </li>
        <li data-testid="charges-packs">
          <strong>Credit packs give some of that back.</strong>{' '}
          {best ? `They are bought with your balance and give more credit than they cost: ${best.name} gives ${packOfferText(best)}.` : 'This instance sells no general pack at the moment.'}{' '}
          <Link href="/#savings" className="text-brand-700 underline underline-offset-2">
            Compare a month&apos;s cost with buying direct
          </Link>
          .
        </li>
      </ul>
    </section>
  );
}

/**
 * A price table that scrolls sideways inside its own box on a phone, never the page. The box is
 * focusable and named, so a keyboard user can scroll it too.
 */
function PriceTable({ id, testId, caption, headers, rows }: { id: string; testId: string; caption: string; headers: string[]; rows: ReactNode[] }) {
  return (
    <div className="space-y-1">
      <p className="text-xs text-slate-500 sm:hidden" id={`${id}-hint`}>
        Scroll the table sideways to see every price.
      </p>
      <div
        role="region"
        aria-label={caption}
        aria-describedby={`${id}-hint`}
        tabIndex={0}
        className="overflow-x-auto rounded-xl border border-slate-200 bg-white focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-600"
      >
        <table className="w-full min-w-[960px] text-left text-sm" data-testid={testId}>
          <caption className="sr-only">{caption}</caption>
          <thead className="border-b border-slate-200 bg-slate-50 text-xs uppercase tracking-wide text-slate-600">
            <tr>
              <th scope="col" className={cell}>
                Model
              </th>
              <th scope="col" className={cell}>
                Provider
              </th>
              <th scope="col" className={cell}>
                Status
              </th>
              {headers.map((header) => (
                <th key={header} scope="col" className={`${cell} text-right`}>
                  {header}
                </th>
              ))}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">{rows}</tbody>
        </table>
      </div>
    </div>
  );
}

/** The cells both tables open each row with: the model's name and id, its provider and whether it is live. */
function ModelCells({ model }: { model: PublicModel }) {
  return (
    <>
      <th scope="row" className={`${cell} font-normal`}>
        <div className="font-medium text-slate-900">{model.name}</div>
        <div className="font-mono text-xs text-slate-500">{model.id}</div>
      </th>
      <td className={`${cell} text-slate-600`}>{model.provider ?? '—'}</td>
      <td className={cell}>
        <StatusBadge status={model.status} reason={model.reason} />
        {model.status !== 'live' && model.reason ? <div className="mt-1 text-xs text-slate-500">{model.reason}</div> : null}
      </td>
    </>
  );
}
