import { z } from 'zod';

/**
 * The bodies of the dead-letter endpoints (operators, admin key), as `functions/handlers/deadLetters.ts`
 * answers them (`DeadLetterView`, `RedriveResult`, `RedriveAllResult` in shared/requests).
 */

const instant = z.iso.datetime({ offset: true });

export const deadLetterSchema = z
  .object({
    id: z.string().describe('Stable while the letter is parked: the {id} of POST /api/deadletters/{id}/redrive'),
    reason: z.string().describe('The code that parked it (invalid-job, max-delivery-count, too-many-errors) or Service Bus\' own'),
    description: z.string(),
    deadLetteredAt: instant,
    notificationId: z.string().optional(),
    jobKind: z.string().optional(),
    recipientKey: z.string().optional(),
    recipientKeys: z.array(z.string()),
  })
  .strict();

export const deadLetterPageSchema = z
  .object({
    items: z.array(deadLetterSchema),
    continuationToken: z.string().optional(),
    next: z.string().optional().describe('Relative URL of the next page'),
  })
  .strict();

export const recipientRedriveSchema = z
  .object({
    recipientKey: z.string(),
    action: z.enum(['reset', 'requeued', 'left']),
    status: z.string().optional().describe("The row's status before the redrive (absent: no row)"),
    reason: z.string().optional(),
  })
  .strict();

export const redrivenSchema = z
  .object({ id: z.string(), status: z.literal('redriven'), jobKind: z.string(), notificationId: z.string(), recipients: z.array(recipientRedriveSchema) })
  .strict();

const redriveOutcomeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('redriven'), id: z.string(), jobKind: z.string(), notificationId: z.string(), recipients: z.array(recipientRedriveSchema) }).strict(),
  z.object({ kind: z.literal('refused'), id: z.string(), why: z.string(), recipients: z.array(recipientRedriveSchema) }).strict(),
]);

export const redriveAllResultSchema = z
  .object({
    notificationId: z.string(),
    redriven: z.number().int().min(0),
    refused: z.number().int().min(0),
    results: z.array(redriveOutcomeSchema),
    continuationToken: z.string().optional().describe('Letters remain: call again with it'),
  })
  .strict();

export const redriveAllRequestSchema = z
  .object({
    notificationId: z.string().regex(/^[a-z0-9]{1,64}$/),
    limit: z.number().int().min(1).max(500).optional(),
    continuationToken: z.string().regex(/^[A-Za-z0-9_-]{1,2000}$/).optional(),
  })
  .strict();
