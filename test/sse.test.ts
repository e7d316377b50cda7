import { describe, expect, it } from 'vitest';
import { SSE_HEADERS, sseHeaders } from '../lib/gateway/sse';

describe('sseHeaders', () => {
  it('is SSE_HEADERS and the call\'s headers, the call\'s winning', () => {
    expect(sseHeaders({})).toEqual(SSE_HEADERS);
    expect(sseHeaders({ 'x-request-id': 'req_1', 'cache-control': 'private' })).toEqual({ ...SSE_HEADERS, 'x-request-id': 'req_1', 'cache-control': 'private' });
  });
});
