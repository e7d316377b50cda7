import type { Metadata } from 'next';
import { StatusBadge } from '@/components/status-badge';
import { listPublicModels, type PublicModel } from '@/lib/catalog/models';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Models & pricing' };

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });
const tokens = new Intl.NumberFormat('en-US');

export default async function PricingPage() {
  const catalog = await listPublicModels();
  const models = catalog.filter((m) => m.kind === 'chat');
  const embeddingModels = catalog.filter((m) => m.kind === 'embedding');
  return (
    <div className="space-y-6">
      <header className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">Models & pricing</h1>
        <p className="max-w-2xl text-slate-600">
          Prices per million tokens, in US dollars, as charged to your credit. You pay for the tokens a call actually uses; a failed call costs nothing.
        </p>
      </header>
      <div className="overflow-x-auto rounded-xl border border-slate-200 bg-white">
        <table className="w-full min-w-[640px] text-left text-sm" data-testid="pricing-table">
          <caption className="sr-only">Models with their provider, status, context window and prices</caption>
          <thead className="border-b border-slate-200 bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
            <tr>
              <th scope="col" className="px-4 py-3">Model</th>
              <th scope="col" className="px-4 py-3">Provider</th>
              <th scope="col" className="px-4 py-3">Status</th>
              <th scope="col" className="px-4 py-3 text-right">Context</th>
              <th scope="col" className="px-4 py-3 text-right">Input / 1M</th>
              <th scope="col" className="px-4 py-3 text-right">Output / 1M</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {models.map((model) => (
              <tr key={model.id}>
                <ModelCells model={model} />
                <td className="px-4 py-3 text-right tabular-nums text-slate-600">{tokens.format(model.contextLength)}</td>
                <td className="px-4 py-3 text-right tabular-nums">{model.inputPer1M === null ? '—' : usd.format(model.inputPer1M)}</td>
                <td className="px-4 py-3 text-right tabular-nums">{model.outputPer1M === null ? '—' : usd.format(model.outputPer1M)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {embeddingModels.length > 0 ? (
        <section aria-labelledby="embedding-pricing-heading" className="space-y-2">
          <h2 id="embedding-pricing-heading" className="text-xl font-semibold tracking-tight">
            Embedding models
          </h2>
          <p className="max-w-2xl text-sm text-slate-600">
            For <code className="rounded bg-slate-100 px-1 font-mono text-xs">POST /v1/embeddings</code>, billed per input token; there is no output to pay for. The built-in one
            hashes words into a vector offline: for tests and demos, not for search quality.
          </p>
          <div className="overflow-x-auto rounded-xl border border-slate-200 bg-white">
            <table className="w-full min-w-[640px] text-left text-sm" data-testid="embedding-pricing-table">
              <caption className="sr-only">Embedding models with their provider, status, input limit, vector length and input price</caption>
              <thead className="border-b border-slate-200 bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
                <tr>
                  <th scope="col" className="px-4 py-3">Model</th>
                  <th scope="col" className="px-4 py-3">Provider</th>
                  <th scope="col" className="px-4 py-3">Status</th>
                  <th scope="col" className="px-4 py-3 text-right">Tokens per input</th>
                  <th scope="col" className="px-4 py-3 text-right">Dimensions</th>
                  <th scope="col" className="px-4 py-3 text-right">Input / 1M</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {embeddingModels.map((model) => (
                  <tr key={model.id}>
                    <ModelCells model={model} />
                    <td className="px-4 py-3 text-right tabular-nums text-slate-600">{tokens.format(model.contextLength)}</td>
                    <td className="px-4 py-3 text-right tabular-nums text-slate-600">{model.dimensions === null ? '—' : tokens.format(model.dimensions)}</td>
                    <td className="px-4 py-3 text-right tabular-nums">{model.inputPer1M === null ? '—' : usd.format(model.inputPer1M)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ) : null}
    </div>
  );
}

/** The cells both tables open each row with: the model's name and id, its provider and whether it is live. */
function ModelCells({ model }: { model: PublicModel }) {
  return (
    <>
      <th scope="row" className="px-4 py-3 font-normal">
        <div className="font-medium text-slate-900">{model.name}</div>
        <div className="font-mono text-xs text-slate-500">{model.id}</div>
      </th>
      <td className="px-4 py-3 text-slate-600">{model.provider ?? '—'}</td>
      <td className="px-4 py-3">
        <StatusBadge status={model.status} reason={model.reason} />
        {model.status !== 'live' && model.reason ? <div className="mt-1 text-xs text-slate-500">{model.reason}</div> : null}
      </td>
    </>
  );
}
