import { TokenCounter } from '../gateway/tokens';
import type { UpstreamEmbeddingRequest, UpstreamEmbeddings } from './types';

/*
 * The built-in model's embedding: feature hashing, not a neural model. Each text's lower-cased
 * words and their character trigrams (token ids and pairs of them, for token input) are hashed
 * with a fixed seed into signed buckets of a LOCAL_EMBEDDING_DIMENSIONS-long vector, which is then
 * scaled to length 1. So the same input always gives the same vector, on any machine, with no
 * network; texts sharing words or spellings point the same way, but nothing here knows what a
 * word means. It is for offline tests and demos of the API and the billing, not for retrieval
 * quality.
 *
 * `dimensions` works as OpenAI's text-embedding-3 models document theirs: the full vector cut to
 * its first `dimensions` values, scaled to length 1 again.
 */

export const LOCAL_EMBEDDING_DIMENSIONS = 256;

const SEED = 0x7011_6a7e;
/** A longer word adds only its first trigrams, so one unbroken 1 MB word costs what 64 characters do. */
const MAX_WORD_CHARS = 64;

/** FNV-1a over a string, from a seed: stable across processes and platforms. */
function hash32(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function add(vector: Float64Array, feature: string, weight: number): void {
  const h = hash32(feature, SEED);
  // One hash gives the bucket (low bits) and the sign (the top bit), so collisions cancel out on average.
  vector[h % vector.length]! += h & 0x8000_0000 ? -weight : weight;
}

function textFeatures(vector: Float64Array, text: string): void {
  let words = 0;
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = match[0].slice(0, MAX_WORD_CHARS);
    words++;
    add(vector, `w:${word}`, 1);
    const padded = `<${word}>`;
    for (let i = 0; i + 3 <= padded.length; i++) add(vector, `g:${padded.slice(i, i + 3)}`, 0.5);
  }
  // Punctuation or symbols only: the text itself, so that different ones still differ.
  if (words === 0) add(vector, `t:${text.slice(0, 4_096)}`, 1);
}

function tokenFeatures(vector: Float64Array, tokens: number[]): void {
  for (let i = 0; i < tokens.length; i++) {
    add(vector, `i:${tokens[i]}`, 1);
    if (i > 0) add(vector, `p:${tokens[i - 1]},${tokens[i]}`, 0.5);
  }
}

/** The vector of one input, `dimensions` long (at most LOCAL_EMBEDDING_DIMENSIONS), of length 1. */
export function localEmbedding(input: string | number[], dimensions = LOCAL_EMBEDDING_DIMENSIONS): number[] {
  const full = new Float64Array(LOCAL_EMBEDDING_DIMENSIONS);
  if (typeof input === 'string') textFeatures(full, input);
  else tokenFeatures(full, input);
  const cut = full.subarray(0, Math.min(Math.max(1, dimensions), LOCAL_EMBEDDING_DIMENSIONS));
  let norm = 0;
  for (const x of cut) norm += x * x;
  norm = Math.sqrt(norm);
  // A prefix can be all zeros when every feature landed beyond it: a fixed unit vector then.
  if (norm === 0) return Array.from(cut, (_, i) => (i === 0 ? 1 : 0));
  return Array.from(cut, (x) => x / norm);
}

/**
 * The whole request. Texts are counted in order with one request-wide TokenCounter, as the
 * gateway counts them for the hold, and token input by its length: the usage never exceeds it.
 */
export function localEmbeddings(request: UpstreamEmbeddingRequest): UpstreamEmbeddings {
  const counter = new TokenCounter();
  let promptTokens = 0;
  const vectors = request.input.map((input) => {
    promptTokens += typeof input === 'string' ? counter.text(input) : input.length;
    return localEmbedding(input, request.dimensions);
  });
  return { vectors, promptTokens };
}
