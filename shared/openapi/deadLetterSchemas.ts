import { z } from 'zod';
import type { DeadLetterView } from '../requests/listDeadLetters';
import type { RecipientRedrive, RedriveAllResult, RedriveResult } from '../requests/redriveDeadLetters';

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

const letterOutcomeSchema = z
  .enum(['removed', 'kept'])
  .describe('removed from the dead letters, or kept there (it could not be removed: still listed, and a second redrive enqueues the job again)');

export const redrivenSchema = z
  .object({ id: z.string(), status: z.literal('redriven'), jobKind: z.string(), notificationId: z.string(), recipients: z.array(recipientRedriveSchema), letter: letterOutcomeSchema })
  .strict();

const redriveOutcomeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('redriven'), id: z.string(), jobKind: z.string(), notificationId: z.string(), recipients: z.array(recipientRedriveSchema), letter: letterOutcomeSchema }).strict(),
  z.object({ kind: z.literal('refused'), id: z.string(), why: z.string(), recipients: z.array(recipientRedriveSchema) }).strict(),
]);

export const redriveAllResultSchema = z
  .object({
    notificationId: z.string(),
    redriven: z.number().int().min(0),
    kept: z.number().int().min(0).describe('Of the redriven, the letters that could not be removed and stay listed'),
    refused: z.number().int().min(0),
    results: z.array(redriveOutcomeSchema),
    continuationToken: z.string().optional().describe('Letters remain: call again with it'),
  })
  .strict();

// What the requests return must fit what the document says (a field added there and not here fails the build).
type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
/** A's values fit B, and the two name the same fields (an extra field is not structural subtyping's concern, but the document's). */
type Fits<A, B> = A extends DeepReadonly<B> ? ([keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false) : false;
const _letter: Fits<DeadLetterView, z.infer<typeof deadLetterSchema>> = true;
const _recipient: Fits<RecipientRedrive, z.infer<typeof recipientRedriveSchema>> = true;
const _redriven: Fits<Omit<Extract<RedriveResult, { kind: 'redriven' }>, 'kind'> & { status: 'redriven' }, z.infer<typeof redrivenSchema>> = true;
const _all: Fits<RedriveAllResult, z.infer<typeof redriveAllResultSchema>> = true;
void [_letter, _recipient, _redriven, _all];
