import { getDb } from '../../db/client';
import type { PayPerRequest } from '../../gateway/context';
import { loadX402Config } from './config';
import { settlementState, createX402, type X402 } from './x402';

export { createX402, buildChallenge, payerUserId, settlementState, NO_LOG_BACKOFF_MAX_MS, NO_LOG_OPEN_MS, type X402 } from './x402';
export { loadX402Config, microsToAtomic, atomicToMicros, KNOWN_NETWORKS, type X402Config, type X402ConfigState, type SettlementMode } from './config';
export { verifyPayment, authorizationDomain, TRANSFER_WITH_AUTHORIZATION_TYPES } from './verify';
export { facilitatorSettler, localSettler, TRANSFER_WITH_AUTHORIZATION_ABI, type Settler } from './settle';
export { HEADERS, decodeHeader, encodeHeader, decodePayment } from './wire';

const globalForX402 = globalThis as unknown as { tollgateX402?: X402 };

/** The process-wide x402 handler (on globalThis: Next bundles modules into several chunks). */
export function getX402(): X402 {
  globalForX402.tollgateX402 ??= createX402({ db: getDb() });
  return globalForX402.tollgateX402;
}

/** For createGateway: none when x402 is not configured, so a keyless call stays the plain 401 it always was. */
export function getPayPerRequest(): PayPerRequest | undefined {
  const x402 = getX402();
  return x402.state.state === 'disabled' ? undefined : x402;
}

export type X402StatusLine = { label: string; value: string; ok: boolean };

/**
 * What /status shows of x402: whether keyless calls can pay per request, and whether payments are
 * settled. Read from the environment only (no network, no database); URLs by host only, since a
 * URL may carry a key.
 */
export function x402Status(env: Record<string, string | undefined> = process.env): X402StatusLine[] {
  const state = loadX402Config(env);
  if (state.state === 'disabled') return [{ label: 'x402 pay-per-request', value: `off (${state.reason})`, ok: true }];
  if (state.state === 'misconfigured') return [{ label: 'x402 pay-per-request', value: `misconfigured: ${state.reason}`, ok: false }];
  const { config } = state;
  const settlement = settlementState(config);
  return [
    { label: 'x402 pay-per-request', value: `challenges on ${config.network} in ${config.assetName} (${config.asset}) to ${config.payTo}`, ok: true },
    {
      label: 'x402 settlement',
      value:
        settlement.mode === 'off'
          ? 'disabled (X402_SETTLEMENT=off): payments are verified, then refused with 503; nothing is charged'
          : settlement.mode === 'facilitator'
            ? `facilitator at ${new URL(config.facilitatorUrl!).host}`
            : `local relayer via ${new URL(config.rpcUrl!).host}`,
      ok: settlement.enabled,
    },
  ];
}
