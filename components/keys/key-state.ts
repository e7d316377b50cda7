import { formatUsdNumber } from '@/lib/money';
import { PLAYGROUND_KEY_NAME } from '@/lib/playground-key-name';
import type { KeyView } from './api';

/** Which of a key's daily limits is used up today (the gateway refuses its calls until 00:00 UTC). */
export type LimitReached = { requests: boolean; budget: boolean };

export function limitsReached(key: KeyView): LimitReached {
  const { daily_requests: quota, daily_budget_usd: budget } = key.limits;
  return {
    requests: quota !== null && key.usage_today.requests >= quota,
    // Compared in micro-dollars: the JSON numbers are exact to the micro, floats are not.
    budget: budget !== null && Math.round(key.usage_today.spent_usd * 1e6) >= Math.round(budget * 1e6),
  };
}

/** "Daily request limit reached (100 of 100) · works again at 00:00 UTC", or null while the key can call. */
export function limitReachedSentence(key: KeyView): string | null {
  if (key.revoked_at) return null;
  const reached = limitsReached(key);
  const parts: string[] = [];
  if (reached.requests) parts.push(`daily request limit reached (${key.usage_today.requests.toLocaleString('en-US')} of ${key.limits.daily_requests!.toLocaleString('en-US')})`);
  if (reached.budget) parts.push(`daily budget used up (${formatUsdNumber(key.usage_today.spent_usd)} of ${formatUsdNumber(key.limits.daily_budget_usd!)})`);
  if (parts.length === 0) return null;
  const text = parts.join(' and ');
  return `${text[0]!.toUpperCase()}${text.slice(1)}: calls are refused until 00:00 UTC, when it resets.`;
}

/** The key the playground makes for itself (lib/playground.ts), recognised by its name. */
export const isPlaygroundKey = (key: KeyView) => key.kind === 'inference' && key.name === PLAYGROUND_KEY_NAME;

/** Active (not revoked) keys first, in the given order, then the revoked ones. */
export function splitRevoked(keys: KeyView[]): { active: KeyView[]; revoked: KeyView[] } {
  return { active: keys.filter((k) => !k.revoked_at), revoked: keys.filter((k) => k.revoked_at) };
}
