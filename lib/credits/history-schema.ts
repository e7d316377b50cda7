import { z } from 'zod';

/** GET /api/credits/history's query: strict, so a misspelt parameter is a 400 naming it. */
export const creditHistoryQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().min(1).max(200).optional(),
});

export type CreditHistoryQuery = z.infer<typeof creditHistoryQuerySchema>;

export type CreditHistoryKind = 'welcome' | 'pack_purchase' | 'deposit' | 'redemption' | 'adjustment' | 'spend';

/** One line of the history as JSON. Amounts are exact decimal USD strings; `*_display` are for people. */
export type CreditHistoryItem = {
  id: string;
  kind: CreditHistoryKind;
  label: string;
  /** ISO time of the transaction; for a spend day, its last settlement. */
  date: string;
  /** UTC day (YYYY-MM-DD). */
  day: string;
  amount_usd: string;
  amount_display: string;
  wallet_change_usd: string;
  pack_change_usd: string;
  balance_after_usd: string;
  balance_after_display: string;
  /** A non-spend item's receipt; null for a spend day, which is many calls. */
  receipt: { transaction_id: string; transaction_kind: string; memo: string } | null;
  /** A spend day's number of settled calls; null otherwise. */
  calls: number | null;
};

export type CreditHistoryResponse = {
  object: 'credit_history';
  totals: { wallet_usd: string; pack_credit_usd: string; total_usd: string; wallet_display: string; pack_credit_display: string; total_display: string };
  /** End-of-day total balance for the last 30 UTC days, oldest first. */
  chart: Array<{ day: string; balance_usd: string }>;
  data: CreditHistoryItem[];
  next_cursor: string | null;
};
