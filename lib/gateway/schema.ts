import { z } from 'zod';

// The OpenAI chat completions request, as far as Tollgate forwards it. Every object is strict: a
// field Tollgate does not know is refused with a 400 naming it, never dropped (the caller would
// believe it took effect) nor forwarded (an upstream would bill for what the hold did not count).

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    url: z.string().refine((url) => /^(https?:\/\/|data:image\/[a-z+.-]+;base64,)/i.test(url), 'must be an http(s) URL or a base64 data: URL of an image'),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
});
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

const textContent = z.union([z.string(), z.array(textPart).min(1)]);

const toolCall = z.strictObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('system'), content: textContent, name: z.string().optional() }),
  z.strictObject({ role: z.literal('developer'), content: textContent, name: z.string().optional() }),
  z.strictObject({
    role: z.literal('user'),
    content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, imagePart])).min(1)]),
    name: z.string().optional(),
  }),
  z.strictObject({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, refusalPart])), z.null()]).optional(),
    tool_calls: z.array(toolCall).optional(),
    refusal: z.string().nullable().optional(),
    name: z.string().optional(),
    // What a completion's message carries as output, so that a client appending the reply to the
    // conversation as it came is not refused: accepted here, dropped below, never forwarded.
    annotations: z.array(z.unknown()).optional(),
    audio: z.null().optional(),
    function_call: z.null().optional(),
  }),
  z.strictObject({ role: z.literal('tool'), content: textContent, tool_call_id: z.string().min(1) }),
]);

const functionTool = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string().min(1) }) }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string().min(1),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

export const chatCompletionRequestSchema = z
  .strictObject({
    model: z.string().min(1, 'is required'),
    messages: z.array(message).min(1, 'must contain at least one message'),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
    tools: z.array(functionTool).max(128).optional(),
    tool_choice: toolChoice.optional(),
    parallel_tool_calls: z.boolean().optional(),
    n: z.number().int().min(1).max(8).nullable().optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    response_format: responseFormat.optional(),
    seed: z.number().int().nullable().optional(),
    user: z.string().max(256).optional(),
    reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
    /** Tollgate: pin the upstream provider. */
    provider: z.string().min(1).optional(),
  })
  .superRefine((body, ctx) => {
    if (typeof body.tool_choice === 'object') {
      const name = body.tool_choice.function.name;
      if (!body.tools?.some((t) => t.function.name === name)) {
        ctx.addIssue({ code: 'custom', path: ['tool_choice', 'function', 'name'], message: `names a function that is not in tools: ${name}` });
      }
    }
    if (body.stream_options && !body.stream) {
      ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'is only allowed when stream is true' });
    }
  })
  .transform((body) => ({ ...body, messages: body.messages.map(withoutEchoedOutput) }));

function withoutEchoedOutput<M extends { role: string }>(message: M) {
  if (message.role !== 'assistant') return message;
  const { annotations: _annotations, audio: _audio, function_call: _functionCall, ...input } = message as M & { annotations?: unknown; audio?: unknown; function_call?: unknown };
  return input as M;
}

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessage = ChatCompletionRequest['messages'][number];
