// The session client's SSE filter alone: payment events reach the callback and leave the stream,
// every other byte reaches the SDK unchanged, wherever the network cuts the chunks.
import { describe, expect, it } from 'vitest';
import { paymentEventFilter } from '../lib/payments/session/client';
import { formatNeedVoucherEvent, formatReceiptEvent, type SessionEvent } from '../lib/payments/session/wire';

const CHANNEL = `0x${'ab'.repeat(32)}` as const;
const need = formatNeedVoucherEvent({ channelId: CHANNEL, requiredCumulative: '1500', acceptedCumulative: '1000', deposit: '1000000' });
const receipt = formatReceiptEvent({
  method: 'evm',
  intent: 'session',
  status: 'success',
  timestamp: '2026-12-02T16:00:00Z',
  reference: CHANNEL,
  challengeId: 'ch_1',
  channelId: CHANNEL,
  chainId: 31337,
  acceptedCumulative: '1500',
  spent: '1234',
});
// Model chunks as OpenAI-compatible servers write them, one with multi-byte text.
const chunk1 = 'data: {"choices":[{"delta":{"content":"Héllo"}}]}\n\n';
const chunk2 = 'data: {"choices":[{"delta":{"content":" wörld 🌍"}}]}\n\n';
const done = 'data: [DONE]\n\n';

/** Runs `parts` (each written as one chunk) through the filter; returns the output bytes and the events. */
async function run(parts: Uint8Array[], onEvent?: (e: SessionEvent) => void | Promise<void>) {
  const events: SessionEvent[] = [];
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
  const output = input.pipeThrough(
    paymentEventFilter((e) => {
      events.push(e);
      return onEvent?.(e);
    }),
  );
  const out = new Uint8Array(await new Response(output).arrayBuffer());
  return { out, text: new TextDecoder().decode(out), events };
}

const bytes = (text: string) => new TextEncoder().encode(text);

/** Cuts `data` at every `size` bytes (so multi-byte characters and CRLF pairs get split too). */
function cut(data: Uint8Array, size: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.slice(i, i + size));
  return parts;
}

describe('paymentEventFilter', () => {
  it('strips payment events and passes model chunks byte-identical, at every chunk size', async () => {
    const whole = bytes(chunk1 + need + chunk2 + receipt + done);
    const expected = bytes(chunk1 + chunk2 + done);
    for (const size of [1, 2, 3, 7, 64, whole.length]) {
      const { out, events } = await run(cut(whole, size));
      expect(Buffer.from(out).equals(Buffer.from(expected)), `chunk size ${size}`).toBe(true);
      expect(events.map((e) => e.event)).toEqual(['payment-need-voucher', 'payment-receipt']);
      expect(events[0]!.data).toMatchObject({ requiredCumulative: '1500', channelId: CHANNEL });
      expect(events[1]!.data).toMatchObject({ spent: '1234' });
    }
  });

  it('handles CRLF and CR line endings, split between chunks', async () => {
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    const cr = (s: string) => s.replace(/\n/g, '\r');
    for (const convert of [crlf, cr]) {
      const whole = bytes(convert(chunk1) + convert(need) + convert(chunk2));
      for (const size of [1, 2, 5, whole.length]) {
        const { text, events } = await run(cut(whole, size));
        expect(text).toBe(convert(chunk1) + convert(chunk2));
        expect(events).toHaveLength(1);
        expect(events[0]!.event).toBe('payment-need-voucher');
      }
    }
  });

  it('reads field values with or without the space after the colon, and multi-line data', async () => {
    const noSpace = `event:payment-receipt\ndata:${receipt.split('\n')[1]!.slice('data: '.length)}\n\n`;
    // The same JSON split over two data lines (joined with a newline, still valid JSON).
    const json = need.split('\n')[1]!.slice('data: '.length);
    const comma = json.indexOf(',');
    const multiLine = `: a comment\nevent: payment-need-voucher\ndata:${json.slice(0, comma + 1)}\ndata: ${json.slice(comma + 1)}\n\n`;
    const { text, events } = await run([bytes(chunk1 + noSpace + multiLine + done)]);
    expect(text).toBe(chunk1 + done);
    expect(events.map((e) => e.event)).toEqual(['payment-receipt', 'payment-need-voucher']);
    expect(events[0]!.data).toMatchObject({ spent: '1234' });
  });

  it('passes other named events and an unterminated tail unchanged', async () => {
    const other = 'event: response.output_text.delta\ndata: {"delta":"x"}\n\n';
    const tail = 'data: {"partial":';
    const { text, events } = await run(cut(bytes(other + need + tail), 4));
    expect(text).toBe(other + tail);
    expect(events).toHaveLength(1);
  });

  it('errors the stream on a malformed payment event, and on a failed callback', async () => {
    const bad = 'event: payment-need-voucher\ndata: {"channelId":"0x12"}\n\n';
    await expect(run([bytes(chunk1 + bad)])).rejects.toThrow(/payment-need-voucher/);
    await expect(run([bytes(chunk1 + need + chunk2)], () => Promise.reject(new Error('voucher refused: 409')))).rejects.toThrow('voucher refused: 409');
  });

  it('waits for a pending callback before ending the stream', async () => {
    let settled = false;
    const { text } = await run([bytes(need + done)], () => new Promise<void>((resolve) => setTimeout(() => ((settled = true), resolve()), 20)));
    expect(settled).toBe(true);
    expect(text).toBe(done);
  });
});
