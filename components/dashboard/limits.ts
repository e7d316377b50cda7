import type { KeyView } from '@/components/keys/api';

export type LimitRace = { first: 'requests' | 'budget' | 'none'; requestsUsed: number | null; budgetUsed: number | null; sentence: string };

/**
 * Of a key's two daily limits, which runs out first at today's pace: the one with the larger share
 * used. Equal shares name the request quota (it is checked first). No forecast before the day's first call.
 */
export function limitRace(key: KeyView): LimitRace {
  const { daily_requests: quota, daily_budget_usd: budget } = key.limits;
  const requestsUsed = quota ? key.usage_today.requests / quota : null;
  const budgetUsed = budget ? key.usage_today.spent_usd / budget : null;
  if (requestsUsed === null && budgetUsed === null) return { first: 'none', requestsUsed, budgetUsed, sentence: 'No daily limits: only the balance bounds this key.' };
  // A forecast needs a pace: with nothing used today, naming a limit that "runs out first" would be a guess.
  if (key.usage_today.requests === 0 && key.usage_today.spent_usd === 0) {
    return { first: 'none', requestsUsed, budgetUsed, sentence: 'No calls today yet: which limit runs out first shows after the first one.' };
  }
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
