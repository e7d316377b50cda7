import { headers } from 'next/headers';
import Link from 'next/link';
import { FanOutDiagram } from '@/components/marketing/fan-out-diagram';
import { Faq, type FaqItem } from '@/components/marketing/faq';
import { Quickstart } from '@/components/marketing/quickstart';
import { SavingsCalculator } from '@/components/marketing/savings-calculator';
import { SellerSection } from '@/components/marketing/seller-section';
import { WaitlistForm } from '@/components/marketing/waitlist-form';
import { StatusBadge } from '@/components/status-badge';
import { buttonClasses } from '@/components/ui';
import { getCatalogCache, listPublicModels } from '@/lib/catalog/models';
import { getDb } from '@/lib/db/client';
import { packOfferText } from '@/lib/packs/pack-bonus';
import { formatBasisPoints } from '@/lib/percent';
import { instanceCharges, type InstanceCharges } from '@/lib/pricing/charges';
import { loadSavingsPacks, type SavingsPack } from '@/lib/pricing/savings';
import { poolMarket, TYPICAL_RATE_BPS } from '@/lib/sellers/market';

export const dynamic = 'force-dynamic';

/** This instance's own base URL, as the browser reached it, for copy-paste examples. */
async function baseUrl(): Promise<string> {
  const h = await headers();
  const host = h.get('x-forwarded-host') ?? h.get('host') ?? 'localhost:3000';
  const proto = h.get('x-forwarded-proto') ?? (host.startsWith('localhost') || host.startsWith('127.') ? 'http' : 'https');
  return `${proto}://${host}/v1`;
}

// The diagram reads in the order people know the providers by; the built-in model comes last.
const PROVIDER_ORDER = ['anthropic', 'google', 'openai', 'deepseek', 'local'];

const PILLARS = [
  { title: 'One key', body: 'Your code holds a single Tollgate key. Provider keys stay on the server, never in your apps or CI logs.' },
  { title: 'Many providers', body: 'Anthropic, Gemini, OpenAI, DeepSeek and a built-in local model behind one OpenAI-compatible API, with failover between them.' },
  { title: 'Prepaid credits', body: 'Calls draw on a prepaid balance, billed to the micro-dollar. Daily request and dollar limits per key; no surprise invoices.' },
];

export default async function HomePage() {
  const [models, base, catalog, packs, market] = await Promise.all([listPublicModels(), baseUrl(), getCatalogCache().get(), loadSavingsPacks(getDb()), poolMarket(getDb())]);
  const providers = [...catalog.providers].sort((a, b) => rank(a.id) - rank(b.id));
  const liveModels = models.filter((m) => m.status === 'live').length;
  const charges = instanceCharges(catalog);

  return (
    <div className="space-y-20">
      <section className="space-y-6">
        <div className="max-w-3xl space-y-6">
          <p className="text-sm font-medium uppercase tracking-wide text-brand-600">Self-hosted AI credit gateway</p>
          <h1 className="text-4xl font-semibold tracking-tight sm:text-5xl lg:text-6xl">One API key in front of every model, paid from prepaid credits.</h1>
          <p className="text-lg text-slate-600">
            Point any OpenAI SDK at Tollgate. It routes to Anthropic, Gemini, OpenAI, DeepSeek or a built-in local model, keeps provider keys on the server, and
            bills every call exactly against a double-entry ledger.
          </p>
          <div className="flex flex-wrap gap-3">
            <Link href="/playground" className={buttonClasses({ size: 'lg' })}>
              Try the playground
            </Link>
            <Link href="#savings" className={buttonClasses({ variant: 'secondary', size: 'lg' })}>
              Compare the cost
            </Link>
          </div>
          <p className="text-sm text-slate-500">
            {liveModels} of {models.length} models live on this instance ·{' '}
            <Link href="/pricing" className="text-brand-600 underline hover:text-brand-700">
              see prices
            </Link>
          </p>
        </div>
      </section>

      <section aria-labelledby="fanout-heading" className="space-y-4">
        <div className="max-w-2xl space-y-2">
          <h2 id="fanout-heading" className="text-2xl font-semibold tracking-tight">
            One key in, every provider out
          </h2>
          <p className="text-slate-600">Live routes are the providers this instance holds a key for; the others go live as soon as an operator adds theirs.</p>
        </div>
        <div className="rounded-2xl border border-slate-200 bg-white p-4 sm:p-6">
          <FanOutDiagram providers={providers} />
        </div>
      </section>

      <section aria-label="What Tollgate does" className="grid gap-4 sm:grid-cols-3">
        {PILLARS.map((pillar) => (
          <div key={pillar.title} className="rounded-xl border border-slate-200 bg-white p-5">
            <h2 className="font-semibold">{pillar.title}</h2>
            <p className="mt-1 text-sm text-slate-600">{pillar.body}</p>
          </div>
        ))}
      </section>

      <section aria-labelledby="catalog-heading" className="rounded-xl border border-slate-200 bg-white p-6">
        <div className="flex items-baseline justify-between gap-4">
          <h2 id="catalog-heading" className="text-lg font-semibold">
            Models on this instance
          </h2>
          <Link href="/pricing" className="text-sm text-brand-600 underline hover:text-brand-700">
            Prices →
          </Link>
        </div>
        <p className="mt-1 text-sm text-slate-500">A model is live when the server has its provider&apos;s key; the built-in model needs no network at all.</p>
        <ul className="mt-4 grid gap-2 sm:grid-cols-2 lg:grid-cols-3" data-testid="model-list">
          {models.map((model) => (
            <li key={model.id} className="flex items-center justify-between gap-2 rounded-lg border border-slate-100 px-3 py-2 text-sm">
              <span className="truncate font-mono">{model.id}</span>
              <StatusBadge status={model.status} reason={model.reason} />
            </li>
          ))}
        </ul>
      </section>

      <section id="quickstart" aria-labelledby="quickstart-heading" className="grid gap-6 lg:grid-cols-[1fr_1.4fr]">
        <div className="space-y-3">
          <h2 id="quickstart-heading" className="text-2xl font-semibold tracking-tight">
            Quickstart
          </h2>
          <p className="text-slate-600">
            Any OpenAI client works: change the base URL and the key. This instance&apos;s base URL is{' '}
            <code className="rounded bg-slate-100 px-1 font-mono text-sm">{base}</code>.
          </p>
          <ol className="list-decimal space-y-1 pl-5 text-sm text-slate-600">
            <li>
              Sign in and create a key on{' '}
              <Link href="/keys" className="text-brand-600 underline hover:text-brand-700">
                /keys
              </Link>{' '}
              (or on the server: <code className="rounded bg-slate-100 px-1 font-mono text-xs">npm run key:create -- --email you@example.com --credit 5</code>).
            </li>
            <li>
              Export it as <code className="rounded bg-slate-100 px-1 font-mono text-xs">TOLLGATE_KEY</code>.
            </li>
            <li>Run one of these. Swap the model for any live one above.</li>
          </ol>
        </div>
        <Quickstart base={base} />
      </section>

      <section id="savings" aria-labelledby="savings-heading" className="space-y-4 scroll-mt-6">
        <div className="max-w-2xl space-y-2">
          <h2 id="savings-heading" className="text-2xl font-semibold tracking-tight">
            Tollgate or the providers direct?
          </h2>
          <p className="text-slate-600">
            What a month of your usage costs here, markup and deposit fee included, next to the providers&apos; own list prices. Move the slider to your monthly
            spend; when going direct is cheaper, this says so.{' '}
            <Link href="/pricing#charges" className="text-brand-600 underline hover:text-brand-700">
              How prices are set
            </Link>
          </p>
        </div>
        <SavingsCalculator
          packs={packs.map((p) => ({ id: p.id, name: p.name, price: p.price.toString(), faceValue: p.faceValue.toString(), validityDays: p.validityDays }))}
          // An empty catalog has no markup to show; 0 then keeps the arithmetic defined.
          charges={{ markupBps: (charges.markup?.maxBps ?? 0n).toString(), depositFeeBps: charges.depositFeeBps?.toString() ?? null }}
        />
      </section>

      <SellerSection {...market} remaining={market.remaining.toString()} typicalRateBps={TYPICAL_RATE_BPS} />

      <section aria-labelledby="faq-heading" className="space-y-4">
        <h2 id="faq-heading" className="text-2xl font-semibold tracking-tight">
          Questions
        </h2>
        <Faq items={faqItems(packs, charges)} />
      </section>

      <section id="waitlist" aria-labelledby="waitlist-heading" className="grid gap-6 rounded-2xl bg-white p-6 ring-1 ring-slate-200 sm:p-8 lg:grid-cols-[1fr_1.5fr]">
        <div className="space-y-2">
          <h2 id="waitlist-heading" className="text-2xl font-semibold tracking-tight">
            Join the waitlist
          </h2>
          <p className="text-slate-600">Hosted Tollgate is coming. Leave your email and we&apos;ll let you know — once, no newsletter.</p>
        </div>
        <WaitlistForm />
      </section>
    </div>
  );
}

function rank(id: string): number {
  const index = PROVIDER_ORDER.indexOf(id);
  return index === -1 ? PROVIDER_ORDER.length : index;
}

function faqItems(packs: SavingsPack[], charges: InstanceCharges): FaqItem[] {
  const best = [...packs].sort((a, b) => (b.faceValue * a.price > a.faceValue * b.price ? 1 : -1))[0];
  return [
    {
      question: 'What is Tollgate?',
      answer:
        'A gateway you run yourself. Your applications call it with one OpenAI-compatible key; it forwards each call to the provider that serves the model, meters the tokens and charges your prepaid balance.',
    },
    {
      question: 'Which SDKs and tools work with it?',
      answer: 'Anything that speaks the OpenAI Chat Completions API: the official Python and Node SDKs, curl, and libraries built on them. Streaming, tools and JSON mode pass through.',
    },
    {
      question: 'How am I billed?',
      answer:
        'Before a call, Tollgate holds the most it could cost; afterwards it charges what the call actually used, to the micro-dollar, and releases the rest. A call that fails costs nothing, and a stream you stop is charged only for what was produced.',
    },
    {
      question: 'What does Tollgate add to the providers\' prices?',
      answer: chargesAnswer(charges),
    },
    {
      question: 'What are credit packs?',
      answer: best
        ? `Prepaid bundles that give more credit than they cost: ${best.name} gives ${packOfferText(best)}. Some packs are limited to one provider or model, and each pack expires after its validity period.`
        : 'Prepaid bundles that give more credit than they cost. Some are limited to one provider or model, and each expires after its validity period.',
    },
    {
      question: 'Why is a provider shown as unavailable?',
      answer: "The server has no API key for it. An operator adds one in the environment (for example OPENAI_API_KEY) and its models go live; the built-in local model is always there.",
    },
    {
      question: 'Can I limit what a key spends?',
      answer: 'Yes. Each key can have a daily request quota and a daily dollar budget, a rate limit, an expiry and a list of allowed models. Whichever limit runs out first stops the key until the next UTC day.',
    },
    {
      question: 'Where does my data live?',
      answer: 'On your server. Tollgate runs on SQLite out of the box or PostgreSQL via DATABASE_URL, and its usage records hold tokens, cost, model and latency, not the text of your prompts.',
    },
  ];
}

function chargesAnswer({ markup, depositFeeBps }: InstanceCharges): string {
  const markupText = !markup
    ? 'a markup over the provider\'s list price'
    : markup.minBps === markup.maxBps
      ? `a ${formatBasisPoints(markup.maxBps)} markup over the provider's list price`
      : `a markup of ${formatBasisPoints(markup.minBps)} to ${formatBasisPoints(markup.maxBps)} over the provider's list price`;
  const feeText =
    depositFeeBps === null
      ? 'Deposits carry a fee too, but this instance\'s payment settings are invalid right now, so it cannot be shown.'
      : `Credit reaches your balance by a deposit, which adds a ${formatBasisPoints(depositFeeBps)} fee on top of the credit you buy.`;
  return `Each call costs ${markupText} (both are listed per model on the pricing page). ${feeText} Credit packs give more credit than they cost, which makes up part of that; the calculator above shows the whole sum.`;
}
