import { formatUsdNumber } from '@/lib/money';
import { PLAYGROUND_KEY_NAME } from '@/lib/playground-key-name';
import type { KeyView } from './api';

/** Which of a key's daily limits is used up today (the gateway refuses its calls until 00:00 UTC). */
export type LimitReached = { requests: boolean; budget: boolean };

const utcDay = (now: Date) => now.toISOString().slice(0, 10);

/**
 * Reached only on the day the usage counts are for: `usage_today` is the key's last counted day
 * (UTC), and a key not used since yesterday starts today from zero, whatever yesterday's numbers.
 */
export function limitsReached(key: KeyView, now = new Date()): LimitReached {
  if (key.usage_today.day !== utcDay(now)) return { requests: false, budget: false };
  const { daily_requests: quota, daily_budget_usd: budget } = key.limits;
  return {
    requests: quota !== null && key.usage_today.requests >= quota,
    // Compared in micro-dollars: the JSON numbers are exact to the micro, floats are not.
    budget: budget !== null && Math.round(key.usage_today.spent_usd * 1e6) >= Math.round(budget * 1e6),
  };
}

/**
 * Why a key is refused today and what ends it, or null while it can call. A fixed limit resets at
 * 00:00 UTC. A wallet-backed budget follows the linked wallet's balance (snapshotted every few
 * minutes, lib/payments/wallet-budget.ts): more in the wallet frees the key sooner, and a $0 budget
 * stays $0 past midnight. Either way the user can raise the limit.
 */
export function limitReachedSentence(key: KeyView, now = new Date()): string | null {
  if (key.revoked_at) return null;
  const reached = limitsReached(key, now);
  const walletBudget = reached.budget && key.budget_wallet !== null;
  const parts: string[] = [];
  if (reached.requests) parts.push(`daily request limit reached (${key.usage_today.requests.toLocaleString('en-US')} of ${key.limits.daily_requests!.toLocaleString('en-US')})`);
  if (reached.budget) {
    const amounts = `${formatUsdNumber(key.usage_today.spent_usd)} of ${formatUsdNumber(key.limits.daily_budget_usd)}`;
    parts.push(walletBudget ? `daily budget used up (${amounts}, set by the linked wallet's balance)` : `daily budget used up (${amounts})`);
  }
  if (parts.length === 0) return null;
  const text = parts.join(' and ');
  const limits = parts.length > 1 ? 'limits' : 'limit';
  const reset = `00:00 UTC, when ${parts.length > 1 ? 'they reset' : 'it resets'}`;
  const until = !walletBudget
    ? `calls are refused until ${reset}, or raise the ${limits}.`
    : key.limits.daily_budget_usd === 0
      ? `calls are refused until the wallet holds enough to give the key a budget, or raise the ${limits} (a fixed budget instead of the wallet's).`
      : `calls are refused until ${reset}, or sooner if the wallet's balance raises the budget; or raise the ${limits}.`;
  return `${text[0]!.toUpperCase()}${text.slice(1)}: ${until}`;
}

/** A key the playground could chat with: its name, inference, not revoked, not expired. */
const usableAsPlaygroundKey = (key: KeyView, now: Date) =>
  key.kind === 'inference' && key.name === PLAYGROUND_KEY_NAME && !key.revoked_at && (key.expires_at === null || new Date(key.expires_at).getTime() > now.getTime());

/**
 * The id of the key the playground chats with, by lib/playground.ts playgroundKeyId's rule: the
 * oldest inference key named "Playground" neither revoked nor expired. Null when there is none
 * (the playground then makes one on its next chat). A key a user named "Playground" themselves,
 * or a second one, is not it.
 */
export function playgroundKeyIdOf(keys: KeyView[], now = new Date()): string | null {
  let oldest: KeyView | null = null;
  for (const key of keys) {
    if (!usableAsPlaygroundKey(key, now)) continue;
    if (!oldest || new Date(key.created_at).getTime() < new Date(oldest.created_at).getTime()) oldest = key;
  }
  return oldest?.id ?? null;
}

/** Active (not revoked) keys first, in the given order, then the revoked ones. */
export function splitRevoked(keys: KeyView[]): { active: KeyView[]; revoked: KeyView[] } {
  return { active: keys.filter((k) => !k.revoked_at), revoked: keys.filter((k) => k.revoked_at) };
}
