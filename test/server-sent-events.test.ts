import { describe, expect, it } from 'vitest';
import { serverSentEventBatches, type SseEvent } from '../lib/providers/server-sent-events';

const utf8 = new TextEncoder();

async function read(pieces: Uint8Array[]): Promise<SseEvent[]> {
  async function* body() {
    for (const piece of pieces) yield piece;
  }
  const events: SseEvent[] = [];
  for await (const batch of serverSentEventBatches(body())) {
    expect(batch.length).toBeGreaterThan(0);
    events.push(...batch);
  }
  return events;
}

/** The stream cut in two at every byte, and sent a byte at a time: the framing must not depend on where reads end. */
function everySplit(text: string): Uint8Array[][] {
  const bytes = utf8.encode(text);
  const splits: Uint8Array[][] = [[bytes], [...bytes].map((b) => Uint8Array.of(b))];
  for (let at = 1; at < bytes.length; at++) splits.push([bytes.subarray(0, at), bytes.subarray(at)]);
  return splits;
}

// Expected events written out by hand from the HTML standard's event-stream rules, but for one
// leniency of the reader's own: an unfinished last event is passed on, not dropped.
const CASES: Array<{ name: string; stream: string; events: SseEvent[] }> = [
  {
    name: 'data lines ending in \\n',
    stream: 'data: {"a":1}\n\ndata: [DONE]\n\n',
    events: [{ event: null, data: '{"a":1}' }, { event: null, data: '[DONE]' }],
  },
  {
    name: 'CRLF line endings',
    stream: 'data: one\r\n\r\nevent: error\r\ndata: two\r\n\r\n',
    events: [{ event: null, data: 'one' }, { event: 'error', data: 'two' }],
  },
  {
    name: 'a CRLF stream after \\n-only events, and mixed blank lines',
    stream: 'data: a\n\ndata: b\r\n\ndata: c\n\r\ndata: d\r\n\r\n',
    events: [{ event: null, data: 'a' }, { event: null, data: 'b' }, { event: null, data: 'c' }, { event: null, data: 'd' }],
  },
  {
    name: 'comments, several data lines, a field without a space, an event without data',
    stream: ': keep-alive\n\nevent: ping\n\nevent: message_delta\ndata: x\ndata:y\n\n',
    events: [{ event: 'message_delta', data: 'x\ny' }],
  },
  {
    name: 'an event of several lines that starts with a data line',
    stream: 'data: first\ndata: second\nevent: delta\n\ndata: 1\r\ndata: 2\r\n\r\n',
    events: [{ event: 'delta', data: 'first\nsecond' }, { event: null, data: '1\n2' }],
  },
  {
    name: 'a last event with no blank line after it, and multi-byte text',
    stream: 'data: héllo — 世界\n\ndata: end',
    events: [{ event: null, data: 'héllo — 世界' }, { event: null, data: 'end' }],
  },
  {
    // The standard: one leading U+FEFF is skipped; anywhere else it is text.
    name: 'a byte order mark before the first event, and one inside a later event',
    stream: '\uFEFFdata: a\n\ndata: b\uFEFFc\n\n',
    events: [{ event: null, data: 'a' }, { event: null, data: 'b\uFEFFc' }],
  },
  {
    name: 'extra blank lines between events',
    stream: '\n\ndata: a\n\n\n\ndata: b\n\n',
    events: [{ event: null, data: 'a' }, { event: null, data: 'b' }],
  },
];

describe('serverSentEventBatches', () => {
  for (const { name, stream, events } of CASES) {
    it(`reads ${name}, wherever the reads are cut`, async () => {
      for (const pieces of everySplit(stream)) expect(await read(pieces)).toEqual(events);
    });
  }

  it('yields the events each read completed as one batch, and nothing for a read that completes none', async () => {
    async function* body() {
      yield utf8.encode('data: 1\n\ndata: 2\n\ndata: 3');
      yield utf8.encode('\n\n: keep-alive');
      yield utf8.encode('\n\n');
      yield utf8.encode('data: 4\n\ndata: [DONE]\n\n');
    }
    const batches: string[][] = [];
    for await (const batch of serverSentEventBatches(body())) batches.push(batch.map((event) => event.data));
    expect(batches).toEqual([['1', '2'], ['3'], ['4', '[DONE]']]);
  });
});
