import type { KeyView } from '@/components/keys/api';

export type LimitRace = { first: 'requests' | 'budget' | 'none'; requestsUsed: number | null; budgetUsed: number | null; sentence: string };

/**
 * Of a key's two daily limits, which runs out first at today's pace: the one with the larger share
 * used. Equal shares name the request quota (it is checked first).
 */
export function limitRace(key: KeyView): LimitRace {
  const { daily_requests: quota, daily_budget_usd: budget } = key.limits;
  const requestsUsed = quota ? key.usage_today.requests / quota : null;
  const budgetUsed = budget ? key.usage_today.spent_usd / budget : null;
  if (requestsUsed === null && budgetUsed === null) return { first: 'none', requestsUsed, budgetUsed, sentence: 'No daily limits: only the balance bounds this key.' };
  const first = budgetUsed === null || (requestsUsed !== null && requestsUsed >= budgetUsed) ? 'requests' : 'budget';
  const exhausted = first === 'requests' ? requestsUsed! >= 1 : budgetUsed! >= 1;
  const what = first === 'requests' ? 'request quota' : 'budget';
  const sentence = exhausted
    ? `The daily ${what} is used up; the key works again at 00:00 UTC.`
    : requestsUsed !== null && budgetUsed !== null
      ? `The ${what} runs out first at today's pace.`
      : `Only the daily ${what} is set.`;
  return { first, requestsUsed, budgetUsed, sentence };
}
