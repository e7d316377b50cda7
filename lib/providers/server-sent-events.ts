import { StringDecoder } from 'node:string_decoder';

export type SseEvent = { event: string | null; data: string };

/** A blank line, with either line ending: what ends an event. Shared, with its lastIndex set just before each exec (no await between). */
const BOUNDARY = /\r?\n\r?\n/g;

/**
 * Server-sent events from a byte stream, `event:` and `data:` fields, events split on blank lines:
 * one batch a read, the events that read completed (a read that completes none yields nothing).
 * A batch, not an event at a time: each step of an async generator costs promises (the yield's
 * await, the next() and its caller's await), and while anything in the process uses
 * AsyncLocalStorage (Next does, around the pages it serves) Node 20 and 22 run hooks on every promise; an
 * upstream that sends several events in one read (a fast model, a 0 ms upstream) pays those once.
 * Every event of a streamed answer passes through here, so the common shape is read without a
 * regular expression: lines that end in `\n` alone (the regex takes over once a `\r` is seen) and
 * an event that is one `data: ` line. The buffer is cut once per read, not once per event.
 * Lenient where upstreams are: an unfinished last event is still passed on; a lone `\r` is not
 * read as a line end (no provider sends one).
 * Decoded by a StringDecoder, which keeps a character cut between reads for the next one as
 * TextDecoder's stream mode does, at a sixth of its cost a read on Node 20 (TextDecoder converts its
 * options object on every call); unlike TextDecoder it keeps a leading byte order mark, which the
 * SSE standard says to skip, so that is done here.
 */
export async function* serverSentEventBatches(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent[]> {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  let crlf = false;
  let first = true;
  for await (const bytes of body) {
    let text = decoder.write(bytes);
    if (first && text !== '') {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!crlf && text.includes('\r')) crlf = true;
    buffer = buffer === '' ? text : buffer + text;
    let start = 0;
    const events: SseEvent[] = [];
    for (;;) {
      let end: number;
      let next: number;
      if (crlf) {
        BOUNDARY.lastIndex = start;
        const found = BOUNDARY.exec(buffer);
        if (!found) break;
        end = found.index;
        next = end + found[0].length;
      } else {
        end = buffer.indexOf('\n\n', start);
        if (end === -1) break;
        next = end + 2;
      }
      const event = parseEvent(buffer.slice(start, end));
      start = next;
      if (event) events.push(event);
    }
    if (start > 0) buffer = buffer.slice(start);
    if (events.length > 0) yield events;
  }
  buffer += decoder.end();
  const last = buffer.trim() ? parseEvent(buffer) : null;
  if (last) yield [last];
}

function parseEvent(block: string): SseEvent | null {
  if (block.startsWith('data: ') && !block.includes('\n')) return { event: null, data: block.slice(6) };
  let event: string | null = null;
  let data: string | null = null;
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'data') data = data === null ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  }
  return data === null ? null : { event, data };
}
