import { z } from 'zod';

/**
 * The 202 bodies of the endpoints that start work on a notification: where to watch it
 * (`statusUrl`, also the `Location` header), and what was started.
 */

const statusUrl = z.string().regex(/^\/api\/notifications\/[^/]+$/).describe('Relative URL of GET /api/notifications/{id}; also sent as Location');

/** POST /api/notifications. */
export const acceptedReceiptSchema = z.object({ id: z.string(), status: z.enum(['accepted', 'scheduled']), statusUrl }).strict();
/** DELETE /api/notifications/{id}. */
export const cancelledReceiptSchema = z.object({ id: z.string(), status: z.literal('cancelled'), statusUrl }).strict();
/** POST /api/notifications/{id}/recall. */
export const recalledReceiptSchema = z.object({ id: z.string(), status: z.literal('recalled'), statusUrl }).strict();
/** POST /api/notifications/{id}/retry. */
export const retryingReceiptSchema = z.object({ id: z.string(), status: z.literal('retrying'), statusUrl }).strict();
/** PATCH /api/notifications/{id}: the version the new message became. */
export const editedReceiptSchema = z.object({ id: z.string(), version: z.number().int().min(2), statusUrl }).strict();

export type AcceptedReceipt = z.infer<typeof acceptedReceiptSchema>;
export type CancelledReceipt = z.infer<typeof cancelledReceiptSchema>;
export type RecalledReceipt = z.infer<typeof recalledReceiptSchema>;
export type RetryingReceipt = z.infer<typeof retryingReceiptSchema>;
export type EditedReceipt = z.infer<typeof editedReceiptSchema>;
