import { z } from 'zod';

/** Shared by the link endpoints and the forms that call them. */
export const siweLinkSchema = z.strictObject({ message: z.string().min(1).max(4_000), signature: z.string().min(1).max(1_000) });
export const linkEmailSchema = z.strictObject({ email: z.email().max(254).transform((e) => e.trim().toLowerCase()) });
