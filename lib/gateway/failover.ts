import type { CatalogOffering } from '../catalog/catalog';
import { logger } from '../logger';
import { UpstreamError, type ChatProvider } from '../providers/types';
import type { Call } from './call';
import type { GatewayContext } from './context';

/**
 * Tries each of the plan's candidates in order; only a failure before anything reached the client
 * (a refused connection, a 429 or 5xx) moves on to the next. The hold covers the dearest of them.
 */
export async function withFailover<T>(ctx: GatewayContext, call: Call, attempt: (provider: ChatProvider, offering: CatalogOffering) => Promise<T>): Promise<{ offering: CatalogOffering; result: T }> {
  let lastError: unknown;
  for (const offering of call.plan.candidates) {
    try {
      return { offering, result: await attempt(ctx.providers(offering.providerId), offering) };
    } catch (error) {
      lastError = error;
      const retryable = error instanceof UpstreamError && error.retryable && !call.upstreamAbort.signal.aborted;
      const detail = error instanceof UpstreamError ? { kind: error.kind, status: error.status, message: error.message } : { error };
      logger.warn('upstream call failed', { requestId: call.requestId, provider: offering.providerId, ...detail, willFailOver: retryable });
      if (!retryable) break;
    }
  }
  throw lastError;
}
