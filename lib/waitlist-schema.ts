/** The waitlist form's schema, shared by the browser form and the server (lib/waitlist.ts). No server imports here. */
import { z } from 'zod';

const optionalText = (max: number) =>
  z
    .string()
    .trim()
    .max(max, `must be at most ${max} characters`)
    .optional()
    .transform((value) => (value ? value : undefined));

export const waitlistSchema = z.strictObject({
  email: z
    .string('must be a valid email address')
    .trim()
    .toLowerCase()
    .max(254, 'must be at most 254 characters')
    .pipe(z.email('must be a valid email address')),
  company: optionalText(120),
  use_case: optionalText(1000),
});

export type WaitlistInput = z.input<typeof waitlistSchema>;
export type WaitlistData = z.output<typeof waitlistSchema>;
