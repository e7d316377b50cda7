import { z } from 'zod';
import { refuseDocumentedFields } from './unsupported-fields';
import { invalidRequest } from '../http/errors';

// The OpenAI Responses request (POST /v1/responses), as far as Tollgate can honour it. Every object
// is strict, as on /v1/chat/completions: an unknown field is refused with a 400 naming it. The
// documented fields Tollgate cannot honour, and the built-in tools, are refused before zod runs
// (refuseUnsupported), so that the 400 says why rather than "unrecognized field".

const imageUrl = z.string().refine((url) => /^(https?:\/\/|data:image\/[a-z+.-]+;base64,)/i.test(url), 'must be an http(s) URL or a base64 data: URL of an image');

const inputText = z.strictObject({ type: z.literal('input_text'), text: z.string() });
const inputImage = z.strictObject({
  type: z.literal('input_image'),
  image_url: imageUrl,
  detail: z.enum(['auto', 'low', 'high']).optional(),
});
/** What a previous response's message carried, as clients echo it back in the conversation. */
const outputText = z.strictObject({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.unknown()).optional(),
  logprobs: z.array(z.unknown()).optional(),
});
const refusal = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

const itemStatus = z.enum(['in_progress', 'completed', 'incomplete']).nullable().optional();
const itemId = z.string().min(1).nullable().optional();

const message = z.strictObject({
  type: z.literal('message'),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [inputText, inputImage, outputText, refusal]))]),
  id: itemId,
  status: itemStatus,
  phase: z.enum(['commentary', 'final_answer']).nullable().optional(),
  // Codex echoes OpenAI's end-of-turn flag on assistant messages; no upstream reads it back.
  end_turn: z.boolean().nullable().optional(),
});

const functionCall = z.strictObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  id: itemId,
  status: itemStatus,
});

const functionCallOutput = z.strictObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  // Codex returns a tool's images (view_image) as input_image parts of the output.
  output: z.union([z.string(), z.array(z.discriminatedUnion('type', [inputText, inputImage]))]),
  id: itemId,
  status: itemStatus,
});

/** Codex sends its previous turns' reasoning back with include: ['reasoning.encrypted_content']. */
const reasoningItem = z.strictObject({
  type: z.literal('reasoning'),
  id: itemId,
  summary: z.array(z.strictObject({ type: z.literal('summary_text'), text: z.string() })),
  content: z.array(z.strictObject({ type: z.enum(['reasoning_text', 'text']), text: z.string() })).nullable().optional(),
  encrypted_content: z.string().nullable().optional(),
  status: itemStatus,
});

// A message may leave out its type (EasyInputMessage): it is given one, so that zod picks the item
// by its type and a bad item's 400 names the field that is wrong rather than "invalid input".
const inputItem = z.preprocess(
  (item) => (item !== null && typeof item === 'object' && !Array.isArray(item) && !('type' in item) ? { type: 'message', ...item } : item),
  z.discriminatedUnion('type', [message, functionCall, functionCallOutput, reasoningItem]),
);

const functionTool = z.strictObject({
  type: z.literal('function'),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

const toolChoice = z.union([z.enum(['none', 'auto', 'required']), z.strictObject({ type: z.literal('function'), name: z.string().min(1) })]);

const textFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: z.string().min(1),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

export const responsesRequestSchema = z
  .strictObject({
    model: z.string().min(1, 'is required'),
    input: z.union([z.string(), z.array(inputItem).min(1, 'must contain at least one item')]),
    instructions: z.string().nullable().optional(),
    tools: z.array(functionTool).max(128).optional(),
    tool_choice: toolChoice.optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    reasoning: z
      .strictObject({
        effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional(),
        summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
      })
      .nullable()
      .optional(),
    max_output_tokens: z.number().int().positive().nullable().optional(),
    text: z.strictObject({ format: textFormat.optional(), verbosity: z.enum(['low', 'medium', 'high']).nullable().optional() }).optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
    // Sent by Codex (trace context) on every request that has any; labels, forwarded to OpenAI only.
    client_metadata: z.record(z.string(), z.string()).nullable().optional(),
    user: z.string().max(256).optional(),
    safety_identifier: z.string().max(64).nullable().optional(),
    prompt_cache_key: z.string().max(256).nullable().optional(),
    // The standard tier, the one the catalog's prices are; the others are refused (refuseUnsupported).
    service_tier: z.enum(['auto', 'default']).nullable().optional(),
    // Only `false` (or nothing): see STATELESS below.
    store: z.literal(false).nullable().optional(),
    include: z.array(z.literal('reasoning.encrypted_content')).nullable().optional(),
    truncation: z.literal('disabled').nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.strictObject({ include_obfuscation: z.boolean().optional() }).nullable().optional(),
    // Documented fields Tollgate refuses (refuseUnsupported), accepted at their defaults, which ask
    // for nothing: SDKs and clients that send every field with its default are not refused.
    previous_response_id: z.null().optional(),
    conversation: z.null().optional(),
    background: z.literal(false).nullable().optional(),
    top_logprobs: z.literal(0).nullable().optional(),
    /** Tollgate: pin the upstream provider. */
    provider: z.string().min(1).optional(),
  })
  .superRefine((body, ctx) => {
    if (typeof body.tool_choice === 'object') {
      const name = body.tool_choice.name;
      if (!body.tools?.some((t) => t.name === name)) ctx.addIssue({ code: 'custom', path: ['tool_choice', 'name'], message: `names a function that is not in tools: ${name}` });
    }
    if (body.stream_options && !body.stream) ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'is only allowed when stream is true' });
  });

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type ResponsesInputItem = Exclude<ResponsesRequest['input'], string>[number];

/**
 * Tollgate keeps no responses: it is a gateway that bills calls, not a conversation store, and a
 * stored response would be one more copy of a user's prompts to secure and expire. So the
 * Responses API is served statelessly, as Codex uses it (store: false, the whole conversation in
 * `input`): `previous_response_id`, `conversation`, `item_reference` items and `store: true` are
 * refused with a 400 that says to send the conversation instead.
 */
const STATELESS = 'Tollgate serves the Responses API statelessly and stores no responses: send the whole conversation in `input` (with store: false)';

/** Documented fields Tollgate does not honour, and why; refused when set to anything but null. */
const UNSUPPORTED_FIELDS: Record<string, string> = {
  previous_response_id: STATELESS,
  conversation: STATELESS,
  background: 'background responses need stored responses, which Tollgate does not keep',
  prompt: 'stored prompt templates live in an OpenAI project, which Tollgate does not proxy',
  context_management: 'server-side compaction is not supported',
  moderation: 'moderation is not supported',
  top_logprobs: 'log probabilities are not supported',
  max_tool_calls: 'max_tool_calls applies to built-in tools, which are not supported',
  prompt_cache_options: 'prompt cache options are not supported',
  prompt_cache_retention: 'prompt cache retention is not supported',
};

/** OpenAI's built-in tools: they run on OpenAI's side (and bill there), so Tollgate cannot meter them. */
const BUILT_IN_TOOL = 'runs on OpenAI’s side and is billed there, where Tollgate cannot meter it; only function tools are supported';

const SUPPORTED_ITEMS = new Set(['message', 'function_call', 'function_call_output', 'reasoning']);

/**
 * The refusals that need a reason of their own: documented fields Tollgate does not honour,
 * built-in tools, and input items other than messages, function calls, their outputs and
 * reasoning. Runs on the raw body, before zod, so each 400 names the field and says why.
 */
export function refuseUnsupported(raw: unknown): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
  const body = raw as Record<string, unknown>;
  // A field set to its documented default (null, background: false, top_logprobs: 0) asks for nothing.
  refuseDocumentedFields(body, UNSUPPORTED_FIELDS, (field, value) => value === null || (field === 'background' && value === false) || (field === 'top_logprobs' && value === 0));
  if (body.service_tier !== undefined && body.service_tier !== null && body.service_tier !== 'auto' && body.service_tier !== 'default') {
    throw invalidRequest(`'service_tier: ${String(body.service_tier).slice(0, 32)}' is not supported: flex, scale and priority are priced differently from the catalog prices Tollgate bills at.`, 'service_tier', 'unsupported_parameter');
  }
  if (body.store === true) throw invalidRequest(`'store: true' is not supported: ${STATELESS}.`, 'store', 'unsupported_parameter');
  if (body.truncation === 'auto') throw invalidRequest("'truncation: auto' is not supported: Tollgate does not drop input items to fit the context; send what fits.", 'truncation', 'unsupported_parameter');
  if (Array.isArray(body.tools)) {
    body.tools.forEach((tool, index) => {
      const type = tool !== null && typeof tool === 'object' ? (tool as { type?: unknown }).type : undefined;
      if (typeof type === 'string' && type !== 'function') {
        // Codex sends web_search unless its config says otherwise: say how to turn it off.
        const hint = type.startsWith('web_search') ? ' (Codex CLI: set web_search = "disabled" in ~/.codex/config.toml)' : '';
        throw invalidRequest(`The tool type '${type.slice(0, 64)}' is not supported: it ${BUILT_IN_TOOL}${hint}.`, `tools[${index}].type`, 'unsupported_tool');
      }
    });
  }
  const choice = body.tool_choice;
  if (choice !== null && typeof choice === 'object' && typeof (choice as { type?: unknown }).type === 'string' && (choice as { type: string }).type !== 'function') {
    const type = (choice as { type: string }).type.slice(0, 64);
    throw invalidRequest(`tool_choice of type '${type}' is not supported: only 'none', 'auto', 'required' and a function are.`, 'tool_choice.type', 'unsupported_tool');
  }
  if (Array.isArray(body.include)) {
    body.include.forEach((value, index) => {
      if (value !== 'reasoning.encrypted_content') {
        throw invalidRequest(`include '${String(value).slice(0, 64)}' is not supported: only 'reasoning.encrypted_content' is.`, `include[${index}]`, 'unsupported_parameter');
      }
    });
  }
  if (Array.isArray(body.input)) {
    body.input.forEach((item, index) => {
      const type = item !== null && typeof item === 'object' ? (item as { type?: unknown }).type : undefined;
      if (type === undefined || typeof type !== 'string' || SUPPORTED_ITEMS.has(type)) return;
      const why = type === 'item_reference' ? STATELESS : 'only messages, function_call, function_call_output and reasoning items are';
      throw invalidRequest(`Input items of type '${type.slice(0, 64)}' are not supported: ${why}.`, `input[${index}].type`, 'unsupported_parameter');
    });
  }
}
