import { z } from 'zod';

// The OpenAI embeddings request. Strict like the chat schema: an unknown field is refused with a
// 400 naming it, never dropped nor forwarded.

/** OpenAI's limit of inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;

const tokenIds = z.array(z.int().nonnegative());

export const embeddingRequestSchema = z
  .strictObject({
    model: z.string().min(1, 'is required'),
    input: z.union([z.string(), z.array(z.string()), tokenIds, z.array(tokenIds)], {
      error: 'must be a string, an array of strings, an array of token ids (integers), or an array of arrays of token ids',
    }),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.int().positive().optional(),
    user: z.string().max(256).optional(),
    /** Tollgate: pin the upstream provider. */
    provider: z.string().min(1).optional(),
  })
  .superRefine((body, ctx) => {
    const input = body.input;
    if (typeof input === 'string') {
      if (input.length === 0) ctx.addIssue({ code: 'custom', path: ['input'], message: 'must not be an empty string' });
      return;
    }
    if (input.length === 0) return void ctx.addIssue({ code: 'custom', path: ['input'], message: 'must not be empty' });
    // A flat array of numbers is one input (token ids); any other array is one input per item.
    if (typeof input[0] === 'number') return;
    if (input.length > MAX_EMBEDDING_INPUTS) {
      return void ctx.addIssue({ code: 'custom', path: ['input'], message: `has ${input.length} inputs; at most ${MAX_EMBEDDING_INPUTS} are allowed per request` });
    }
    for (const [index, item] of (input as Array<string | number[]>).entries()) {
      if (item.length === 0) return void ctx.addIssue({ code: 'custom', path: ['input', index], message: typeof item === 'string' ? 'must not be an empty string' : 'must not be empty' });
    }
  });

export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;

/** The request's inputs, one item each: a text or token ids. */
export function embeddingInputs(input: EmbeddingRequest['input']): Array<string | number[]> {
  if (typeof input === 'string') return [input];
  if (input.length > 0 && typeof input[0] === 'number') return [input as number[]];
  return input as Array<string | number[]>;
}
