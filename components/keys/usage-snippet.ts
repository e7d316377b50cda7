/**
 * What to paste right after creating a key: a curl call against this server's OpenAI-compatible
 * endpoint, and the two environment variables every OpenAI SDK reads, as shell `export` lines
 * (pasted into a terminal they reach the program started from it). `origin` is the page's own
 * (window.location.origin), so the snippet names the server the key was made on.
 */
export function usageSnippets({ origin, secret, model }: { origin: string; secret: string; model: string }) {
  const baseUrl = `${origin.replace(/\/+$/, '')}/v1`;
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello!' }] });
  const curl = [`curl ${baseUrl}/chat/completions \\`, `  -H "Authorization: Bearer ${secret}" \\`, `  -H "Content-Type: application/json" \\`, `  -d '${body}'`].join('\n');
  const env = [`export OPENAI_BASE_URL=${baseUrl}`, `export OPENAI_API_KEY=${secret}`].join('\n');
  return { curl, env };
}

/** A model as the keys page knows it from the catalog. */
export type SnippetCatalogModel = { id: string; status: string; kind: 'chat' | 'embedding' };

/**
 * The model the snippet's chat call names, one the new key can call: with a model list, its first
 * chat model the catalog knows (else simply its first); with every model allowed, the built-in
 * tollgate-local when live (it needs no provider), else the first live chat model. Never an
 * embedding model when a chat one will do: the snippet calls /chat/completions.
 */
export function snippetModel(allowed: string[] | null, catalog: SnippetCatalogModel[]): string {
  if (allowed && allowed.length > 0) return allowed.find((id) => catalog.some((m) => m.id === id && m.kind === 'chat')) ?? allowed[0]!;
  const liveChat = catalog.filter((m) => m.status === 'live' && m.kind === 'chat');
  return (liveChat.find((m) => m.id === 'tollgate-local') ?? liveChat[0])?.id ?? 'tollgate-local';
}
