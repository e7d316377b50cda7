import { describe, expect, it } from 'vitest';
import { withModel } from '../lib/gateway/chat';

// What an OpenAI-compatible upstream writes for one chunk (compact JSON, as OpenAI's servers do).
const chunk = {
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1796385698,
  model: 'gpt-4o-mini-2024-07-18',
  system_fingerprint: 'fp_1',
  choices: [{ index: 0, delta: { content: 'He said "model":"gpt-4o-mini-2024-07-18" — and é\u2028' }, logprobs: null, finish_reason: null }],
  usage: null,
};

describe('withModel: an upstream chunk sent on with only its model renamed', () => {
  it('renames the top-level model and leaves every other byte as the upstream wrote it', () => {
    const text = JSON.stringify(chunk);
    const renamed = withModel(text, chunk.model, 'gpt-4o-mini');
    // Independently: the same object with the model replaced, serialized the same way.
    expect(renamed).toBe(JSON.stringify({ ...chunk, model: 'gpt-4o-mini' }));
    // The content that quotes the upstream's model (escaped in the JSON text) is untouched.
    expect((JSON.parse(renamed!) as typeof chunk).choices[0]!.delta.content).toBe(chunk.choices[0]!.delta.content);
  });

  it('keeps text the upstream formatted its own way, as long as the model is found exactly once', () => {
    const text = '{"id":"c","model":"up-1","choices":[{"index":0,"delta":{"content":"hi"}}],"created":1.0}';
    expect(withModel(text, 'up-1', 'ours')).toBe('{"id":"c","model":"ours","choices":[{"index":0,"delta":{"content":"hi"}}],"created":1.0}');
    expect(withModel(text, 'ours', 'ours')).toBe(text);
  });

  it('gives up (the caller serializes the parsed chunk) when renaming could be wrong or break the event', () => {
    // A nested object with the same key and value: which one is the top level's is not told apart.
    expect(withModel('{"model":"up","choices":[{"delta":{"x":{"model":"up"}}}]}', 'up', 'ours')).toBeNull();
    // The top level's key spaced, and a compact one nested: the one found is not the top level's.
    expect(withModel('{"model" : "up","choices":[{"delta":{"x":{"model":"up"}}}]}', 'up', 'ours')).toBeNull();
    // The top level's key written with a \u escape, and a plain one nested: refused.
    expect(withModel('{"\\u006dodel":"up","choices":[{"delta":{"x":{"model":"up"}}}]}', 'up', 'ours')).toBeNull();
    // Content that ends in "model (an escaped quote): a second "model" in the text.
    expect(withModel(JSON.stringify({ model: 'up', choices: [{ delta: { content: 'say "model' } }] }), 'up', 'ours')).toBeNull();
    // A string equal to "model" elsewhere in the chunk.
    expect(withModel('{"model":"up","choices":[{"delta":{"content":"model"}}]}', 'up', 'ours')).toBeNull();
    // Spaced differently from the needle: not found.
    expect(withModel('{"model": "up","choices":[]}', 'up', 'ours')).toBeNull();
    // Spread over several data: lines (a newline in the text), or a carriage return.
    expect(withModel('{"model":"up",\n"choices":[]}', 'up', 'ours')).toBeNull();
    expect(withModel('{"model":"up",\r"choices":[]}', 'up', 'ours')).toBeNull();
    expect(withModel('{"model":"up",\n"choices":[]}', 'ours', 'ours')).toBeNull();
    // No model, or not a string.
    expect(withModel('{"choices":[]}', undefined, 'ours')).toBeNull();
    expect(withModel('{"model":7,"choices":[]}', 7, 'ours')).toBeNull();
  });
});
