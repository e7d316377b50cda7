// One autocannon run, summarised. Latency percentiles come from our own record of every 2xx
// response time: autocannon's histogram keeps whole milliseconds, too coarse when the direct
// upstream answers in about one.
import autocannon from 'autocannon';

export type LoadOptions = {
  url: string;
  connections: number;
  durationSec: number;
  body: string;
  headers: Record<string, string>;
  /** A response body that fails this counts as a mismatch. */
  verifyBody: (body: string) => boolean;
};

export type LatencySummary = { mean: number; p50: number; p90: number; p99: number; max: number };

export type LoadStats = {
  durationSec: number;
  /** Requests written to the wire, including those cut off in flight when the run stopped. */
  sent: number;
  /** Responses received, any status. */
  completed: number;
  ok2xx: number;
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  /** Responses whose body did not look like a chat completion. */
  mismatches: number;
  statusCodes: Record<string, number>;
  /** 2xx responses per second. */
  rps: number;
  /** Milliseconds, over 2xx responses. */
  latencyMs: LatencySummary;
};

export function runLoad(options: LoadOptions): Promise<LoadStats> {
  const samples: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: 'POST',
        connections: options.connections,
        duration: options.durationSec,
        body: options.body,
        headers: options.headers,
        verifyBody: (body) => typeof body === 'string' && options.verifyBody(body),
      },
      (error: unknown, result) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
        resolve({
          durationSec: result.duration,
          sent: result.requests.sent,
          completed: result.requests.total,
          ok2xx: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches: result.mismatches,
          statusCodes,
          rps: result.duration > 0 ? result['2xx'] / result.duration : 0,
          latencyMs: summarize(samples),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
    });
  });
}

export function summarize(samples: number[]): LatencySummary {
  if (samples.length === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(samples).sort();
  // Nearest rank: the smallest sample with at least p% of all samples at or below it.
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  let total = 0;
  for (const value of sorted) total += value;
  return { mean: total / sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1]! };
}
