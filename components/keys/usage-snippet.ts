/**
 * What to paste right after creating a key: a curl call against this server's OpenAI-compatible
 * endpoint, and the two environment variables every OpenAI SDK reads. `origin` is the page's own
 * (window.location.origin), so the snippet names the server the key was made on.
 */
export function usageSnippets({ origin, secret, model }: { origin: string; secret: string; model: string }) {
  const baseUrl = `${origin.replace(/\/+$/, '')}/v1`;
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello!' }] });
  const curl = [`curl ${baseUrl}/chat/completions \\`, `  -H "Authorization: Bearer ${secret}" \\`, `  -H "Content-Type: application/json" \\`, `  -d '${body}'`].join('\n');
  const env = [`OPENAI_BASE_URL=${baseUrl}`, `OPENAI_API_KEY=${secret}`].join('\n');
  return { curl, env };
}
