import { z } from 'zod';
import { refuseDocumentedFields } from './unsupported-fields';

// Anthropic's Messages request (POST /v1/messages and /v1/messages/count_tokens), as far as
// Tollgate can serve and bill it. Every object is strict, as in schema.ts: a field Tollgate does
// not know is refused with a 400 naming it, never dropped nor forwarded. The documented fields
// it cannot honour are refused before validation with the reason (UNSUPPORTED_FIELDS).
//
// temperature, top_p and top_k are documented by the API versions clients still send
// (2023-06-01: Claude Code, the Vercel AI SDK); the newest refuses them itself.

const ONLY_5M_CACHE = {
  error: "must be '5m': Tollgate prices cache writes at Anthropic's 5-minute rate (1.25x input); 1-hour writes (2x) are not offered",
};

/** One cache_control marker; where it sits decides nothing about billing (pricing.ts bounds any write). */
const cacheControl = z
  .strictObject({ type: z.literal('ephemeral'), ttl: z.literal('5m', ONLY_5M_CACHE).optional() })
  .nullable()
  .optional();

const textBlock = z.strictObject({
  type: z.literal('text'),
  text: z.string(),
  cache_control: cacheControl,
  // What a response's text block carries (always null without documents), echoed back by clients.
  citations: z.null().optional(),
});

const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;

const imageBlock = z.strictObject({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('base64'), media_type: z.enum(IMAGE_MEDIA_TYPES), data: z.string().min(1, 'is required') }),
    z.strictObject({ type: z.literal('url'), url: z.string().regex(/^https?:\/\//i, 'must be an http(s) URL') }),
  ]),
  cache_control: cacheControl,
});

const toolResultBlock = z.strictObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string().min(1, 'is required'),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textBlock, imageBlock]))]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});

const toolUseBlock = z.strictObject({
  type: z.literal('tool_use'),
  id: z.string().min(1, 'is required'),
  name: z.string().min(1, 'is required'),
  input: z.record(z.string(), z.unknown()),
  cache_control: cacheControl,
  // A response's tool_use block says who called it; clients echo it back. Only the model itself
  // (programmatic tool calling by a server tool is not offered).
  caller: z.strictObject({ type: z.literal('direct') }).optional(),
});

const thinkingBlock = z.strictObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string() });
const redactedThinkingBlock = z.strictObject({ type: z.literal('redacted_thinking'), data: z.string() });

const userBlock = z.discriminatedUnion('type', [textBlock, imageBlock, toolResultBlock]);
const assistantBlock = z.discriminatedUnion('type', [textBlock, toolUseBlock, thinkingBlock, redactedThinkingBlock]);

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('user'), content: z.union([z.string(), z.array(userBlock)]) }),
  z.strictObject({ role: z.literal('assistant'), content: z.union([z.string(), z.array(assistantBlock)]) }),
]);

const tool = z.strictObject({
  // Only custom tools: Anthropic's server tools (web search, code execution, ...) carry fees per use
  // that Tollgate does not bill, and have no equivalent on other upstreams.
  type: z.literal('custom', { error: "must be 'custom' (or left out): Anthropic's server tools are not offered" }).nullable().optional(),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, underscores or dashes'),
  description: z.string().optional(),
  input_schema: z.record(z.string(), z.unknown()).refine((schema) => schema.type === 'object', "must be a JSON schema of type 'object'"),
  cache_control: cacheControl,
  strict: z.boolean().optional(),
  eager_input_streaming: z.boolean().nullable().optional(),
});

const toolChoice = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.strictObject({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.strictObject({ type: z.literal('tool'), name: z.string().min(1, 'is required'), disable_parallel_tool_use: z.boolean().optional() }),
  z.strictObject({ type: z.literal('none') }),
]);

const thinking = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('enabled'),
    budget_tokens: z.number().int().min(1024, 'must be at least 1024'),
    display: z.enum(['summarized', 'omitted']).nullable().optional(),
  }),
  z.strictObject({ type: z.literal('disabled') }),
  z.strictObject({ type: z.literal('adaptive'), display: z.enum(['summarized', 'omitted']).nullable().optional() }),
]);

const system = z.union([z.string(), z.array(textBlock)]);

const counted = <T extends string>(type: T) => z.strictObject({ type: z.literal(type), value: z.number().int().min(0) });

/**
 * Server-side context editing, which Claude Code sends on its own: clearing old tool results or
 * thinking only ever shrinks the prompt Anthropic bills, so the hold (which counts everything sent)
 * still bounds it. Compaction is refused: it runs a summarizing call of its own, billed beside.
 */
const contextManagement = z.strictObject({
  edits: z
    .array(
      z.discriminatedUnion(
        'type',
        [
          z.strictObject({
            type: z.literal('clear_tool_uses_20250919'),
            clear_at_least: counted('input_tokens').nullable().optional(),
            clear_tool_inputs: z.union([z.boolean(), z.array(z.string())]).nullable().optional(),
            exclude_tools: z.array(z.string()).nullable().optional(),
            keep: counted('tool_uses').optional(),
            trigger: z.discriminatedUnion('type', [counted('input_tokens'), counted('tool_uses')]).optional(),
          }),
          z.strictObject({
            type: z.literal('clear_thinking_20251015'),
            keep: z.union([counted('thinking_turns'), z.strictObject({ type: z.literal('all') }), z.literal('all')]).optional(),
          }),
        ],
        { error: "must be 'clear_tool_uses_20250919' or 'clear_thinking_20251015': server-side compaction is not offered" },
      ),
    )
    .optional(),
});

/** What both endpoints read: the prompt. */
const promptFields = {
  model: z.string().min(1, 'is required'),
  messages: z.array(message).min(1, 'must contain at least one message'),
  system: system.optional(),
  tools: z.array(tool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  thinking: thinking.optional(),
  cache_control: cacheControl,
  context_management: contextManagement.optional(),
};

function toolChoiceNamesATool(body: { tools?: Array<{ name: string }>; tool_choice?: { type: string; name?: string } }, ctx: z.RefinementCtx) {
  const choice = body.tool_choice;
  if (choice?.type === 'tool' && !body.tools?.some((t) => t.name === choice.name)) {
    ctx.addIssue({ code: 'custom', path: ['tool_choice', 'name'], message: `names a tool that is not in tools: ${choice.name}` });
  }
}

export const messagesRequestSchema = z
  .strictObject({
    ...promptFields,
    // 0 (a cache pre-warm with no output) is not offered: every call here produces output.
    max_tokens: z.number().int().min(1, 'must be at least 1'),
    metadata: z.strictObject({ user_id: z.string().max(256).nullable().optional() }).optional(),
    stop_sequences: z.array(z.string()).max(64).optional(),
    stream: z.boolean().optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).optional(),
  })
  .superRefine(toolChoiceNamesATool);

export const countTokensRequestSchema = z.strictObject(promptFields).superRefine(toolChoiceNamesATool);

export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
export type MessageParam = MessagesRequest['messages'][number];
export type TextBlock = z.infer<typeof textBlock>;
export type ImageBlock = z.infer<typeof imageBlock>;

/**
 * Documented parameters Tollgate cannot honour, and why: refused by name before validation, so
 * the caller learns it is a choice, not a typo.
 */
const UNSUPPORTED_FIELDS: Record<string, string> = {
  container: 'containers belong to server-side tools, which are not offered',
  mcp_servers: 'the MCP connector runs server-side tools, which are not offered',
  diagnostics: 'prompt-cache diagnostics are not offered',
  inference_geo: 'regional inference is priced differently and is not offered',
  output_config: 'effort and structured output settings are not offered',
  service_tier: 'priority capacity is priced differently and is not offered',
  speed: 'fast mode is priced differently and is not offered',
};

/** The request body, before validation: a documented parameter Tollgate cannot honour is a 400 naming it, even when null. */
export function refuseUnsupportedFields(raw: unknown): void {
  refuseDocumentedFields(raw, UNSUPPORTED_FIELDS);
}
