import { z } from 'zod';
import { usdToMicros } from './money';

/** A USD amount as a JSON string or number ("12.5", 12.5) → integer micro-USD; at most 6 decimals. */
export const usdAmount = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return usdToMicros(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a USD amount with at most 6 decimals' });
    return z.NEVER;
  }
});
