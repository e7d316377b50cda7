import { listPublicModels } from '@/lib/catalog/models';

export const dynamic = 'force-dynamic';

export default async function HomePage() {
  const models = await listPublicModels();
  return (
    <div className="space-y-10">
      <section className="space-y-4">
        <p className="text-sm font-medium uppercase tracking-wide text-brand-600">Self-hosted AI credit gateway</p>
        <h1 className="max-w-3xl text-4xl font-semibold tracking-tight sm:text-5xl">One API key in front of every model, paid from prepaid credits.</h1>
        <p className="max-w-2xl text-lg text-slate-600">
          Point any OpenAI SDK at Tollgate. It routes to Anthropic, Gemini, OpenAI, DeepSeek or a built-in local model, keeps provider keys on the server,
          and bills every call exactly against a double-entry ledger.
        </p>
      </section>
      <section aria-labelledby="catalog-heading" className="rounded-xl border border-slate-200 bg-white p-6">
        <h2 id="catalog-heading" className="text-lg font-semibold">
          Models on this instance
        </h2>
        <ul className="mt-4 grid gap-2 sm:grid-cols-2 lg:grid-cols-3" data-testid="model-list">
          {models.map((model) => (
            <li key={model.id} className="flex items-center justify-between rounded-lg border border-slate-100 px-3 py-2 text-sm">
              <span className="font-mono">{model.id}</span>
              <span className={model.status === 'live' ? 'text-emerald-600' : 'text-slate-400'}>{model.status}</span>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
