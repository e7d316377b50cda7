import { z } from 'zod';
import { usdAmount } from '../money-schema';

/** A million dollars: beyond it a threshold is a typo, not a plan. */
export const MAX_ALERT_THRESHOLD_MICROS = 1_000_000_000_000n;

/**
 * PUT /api/credits/alerts. Shared with the form on /credits, so both refuse the same things in
 * the same words (the form shows the server's message on the field it names). Whether the URL's
 * host may be called is decided on the server (lib/credits/alert-webhook.ts), which resolves it.
 */
export const creditAlertInputSchema = z
  .strictObject({
    threshold_usd: usdAmount
      .refine((m) => m > 0n, 'must be more than $0')
      .refine((m) => m <= MAX_ALERT_THRESHOLD_MICROS, 'must be at most $1,000,000'),
    email: z.boolean('must be true or false'),
    // An empty box is "no webhook".
    webhook_url: z
      .string('must be a URL or null')
      .trim()
      .max(2_048, 'must be at most 2,048 characters')
      .nullable()
      .transform((url) => url || null),
    /** A new signing secret for the same URL (the old one stops working at once). */
    rotate_secret: z.boolean('must be true or false').optional(),
  })
  .refine((input) => input.email || input.webhook_url !== null, { message: 'choose email, a webhook, or both', path: ['email'] });

export type CreditAlertInput = z.infer<typeof creditAlertInputSchema>;

/** GET/PUT /api/credits/alerts. `webhook_secret` is there once: in the answer that made it. */
export type CreditAlertView = {
  object: 'credit_alert';
  configured: boolean;
  threshold_usd: string | null;
  email: boolean;
  webhook_url: string | null;
  /** The live secret's last four characters, to tell secrets apart. */
  webhook_secret_hint: string | null;
  webhook_secret?: string;
  /** False after an alert went out, until the balance is above the threshold again. */
  armed: boolean;
  last_alert_at: string | null;
  last_delivery_error: string | null;
  /** Where an email alert goes; null when the account has no email address. */
  email_address: string | null;
  /** Wallet available + live pack credit, what the threshold is compared with. */
  balance_usd: string;
  balance_display: string;
};

export type CreditAlertTestResult = {
  object: 'credit_alert_test';
  email: 'sent' | 'off' | 'failed';
  webhook: { status: 'off' } | { status: 'delivered'; http_status: number } | { status: 'failed'; http_status: number | null; error: string };
};
