/**
 * The web playground's server side: a signed-in user chats through the gateway with their own
 * "Playground" inference key (created on first use, never shown: its secret is not needed because
 * the gateway runs the call for the key id directly). Same pipeline, limits and billing as /v1.
 */
import { z } from 'zod';
import type { Db } from './db/client';
import { parseOrThrow } from './http/errors';
import { createGuards } from './http/guards';
import { readJsonBody } from './http/json';
import { createApiKeyOp } from './keys/keys';
import { PLAYGROUND_KEY_NAME } from './playground-key-name';

export { PLAYGROUND_KEY_NAME };

/** What the browser sends: the conversation so far, without the system prompt, which comes apart. */
export const playgroundChatSchema = z.strictObject({
  model: z.string().trim().min(1, 'is required').max(200),
  system: z.string().max(8_000, 'must be at most 8,000 characters').optional(),
  messages: z
    .array(z.strictObject({ role: z.enum(['user', 'assistant']), content: z.string().max(32_000, 'must be at most 32,000 characters') }))
    .min(1, 'must contain at least one message')
    .max(100, 'must contain at most 100 messages'),
  max_tokens: z.number().int().min(1).max(4_096).optional(),
  temperature: z.number().min(0).max(2).optional(),
});

export type PlaygroundChat = z.infer<typeof playgroundChatSchema>;

type Gateway = { chatCompletionsForKey(keyId: string, request: Request): Promise<Response> };

/**
 * The user's playground key: the oldest usable inference key named "Playground", or a new one.
 * If the user revokes it on /keys (or it expires), the next chat makes a fresh one; limits the
 * user sets on it there apply to the playground.
 */
export async function playgroundKeyId(db: Db, userId: string, now = new Date()): Promise<string> {
  const existing = await db.apiKey.findFirst({
    where: { userId, name: PLAYGROUND_KEY_NAME, kind: 'INFERENCE', revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    orderBy: { createdAt: 'asc' },
    select: { id: true },
  });
  if (existing) return existing.id;
  const created = createApiKeyOp(db, { userId, name: PLAYGROUND_KEY_NAME });
  await created.op;
  return created.id;
}

/** The Chat Completions body the gateway gets: streamed, with the usage chunk that carries the cost. */
export function toChatCompletionBody(chat: PlaygroundChat) {
  const system = chat.system?.trim();
  return {
    model: chat.model,
    messages: [...(system ? [{ role: 'system' as const, content: system }] : []), ...chat.messages],
    stream: true,
    stream_options: { include_usage: true },
    ...(chat.max_tokens !== undefined ? { max_tokens: chat.max_tokens } : {}),
    ...(chat.temperature !== undefined ? { temperature: chat.temperature } : {}),
  };
}

export function createPlaygroundApi({ db, gateway, env = process.env }: { db: Db; gateway: () => Gateway; env?: Record<string, string | undefined> }) {
  const guard = createGuards({ db, env });
  return {
    /** POST /api/playground/chat → the gateway's SSE stream (or its OpenAI-shaped error); 401 when signed out. */
    chat: guard.session(async ({ request, user }) => {
      const chat = parseOrThrow(playgroundChatSchema, await readJsonBody(request));
      const keyId = await playgroundKeyId(db, user.id);
      // The client's abort (the Stop button) reaches the gateway through the signal: it stops
      // the upstream call and bills only the tokens already produced.
      const forwarded = new Request(new URL('/v1/chat/completions', request.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(toChatCompletionBody(chat)),
        signal: request.signal,
      });
      return gateway().chatCompletionsForKey(keyId, forwarded);
    }, { signedOut: 'Sign in to use the playground.' }),
  };
}
