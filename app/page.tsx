import { headers } from 'next/headers';
import Link from 'next/link';
import { StatusBadge } from '@/components/status-badge';
import { listPublicModels } from '@/lib/catalog/models';

export const dynamic = 'force-dynamic';

/** This instance's own base URL, as the browser reached it, for copy-paste examples. */
async function baseUrl(): Promise<string> {
  const h = await headers();
  const host = h.get('x-forwarded-host') ?? h.get('host') ?? 'localhost:3000';
  const proto = h.get('x-forwarded-proto') ?? (host.startsWith('localhost') || host.startsWith('127.') ? 'http' : 'https');
  return `${proto}://${host}/v1`;
}

export default async function HomePage() {
  const [models, base] = await Promise.all([listPublicModels(), baseUrl()]);
  const curl = `curl ${base}/chat/completions \\
  -H "Authorization: Bearer $TOLLGATE_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "tollgate-local", "messages": [{"role": "user", "content": "Hello!"}]}'`;
  return (
    <div className="space-y-12">
      <section className="space-y-4">
        <p className="text-sm font-medium uppercase tracking-wide text-brand-600">Self-hosted AI credit gateway</p>
        <h1 className="max-w-3xl text-4xl font-semibold tracking-tight sm:text-5xl">One API key in front of every model, paid from prepaid credits.</h1>
        <p className="max-w-2xl text-lg text-slate-600">
          Point any OpenAI SDK at Tollgate. It routes to Anthropic, Gemini, OpenAI, DeepSeek or a built-in local model, keeps provider keys on the server,
          and bills every call exactly against a double-entry ledger.
        </p>
      </section>

      <section aria-labelledby="catalog-heading" className="rounded-xl border border-slate-200 bg-white p-6">
        <div className="flex items-baseline justify-between gap-4">
          <h2 id="catalog-heading" className="text-lg font-semibold">
            Models on this instance
          </h2>
          <Link href="/pricing" className="text-sm text-brand-600 hover:underline">
            Prices →
          </Link>
        </div>
        <ul className="mt-4 grid gap-2 sm:grid-cols-2 lg:grid-cols-3" data-testid="model-list">
          {models.map((model) => (
            <li key={model.id} className="flex items-center justify-between gap-2 rounded-lg border border-slate-100 px-3 py-2 text-sm">
              <span className="truncate font-mono">{model.id}</span>
              <StatusBadge status={model.status} reason={model.reason} />
            </li>
          ))}
        </ul>
      </section>

      <section id="quickstart" aria-labelledby="quickstart-heading" className="space-y-3">
        <h2 id="quickstart-heading" className="text-lg font-semibold">
          Quickstart
        </h2>
        <p className="text-slate-600">
          Create a key with <code className="rounded bg-slate-100 px-1 font-mono text-sm">npm run key:create -- --email you@example.com --credit 5</code> on the
          server, then call the API with any OpenAI client. The base URL is <code className="rounded bg-slate-100 px-1 font-mono text-sm">{base}</code>.
        </p>
        <pre className="overflow-x-auto rounded-xl bg-slate-900 p-4 text-sm text-slate-100" data-testid="quickstart-curl">
          <code>{curl}</code>
        </pre>
      </section>
    </div>
  );
}
