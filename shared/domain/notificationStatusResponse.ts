import { z } from 'zod';
import type { NotificationStatus, StatusCounts } from './notification';
import type { FailureReason, RecipientStatus } from './outcome';
import { recipientSchema, type Recipient } from './recipient';

/**
 * The body of `GET /api/notifications/{id}` as a schema: the handler's answer is typed by it, and
 * the OpenAPI document is generated from it, so the two cannot drift apart.
 */

const instant = z.iso.datetime({ offset: true });

export const notificationStatusSchema = z.enum(['accepted', 'scheduled', 'sending', 'completed', 'cancelled', 'recalled']);
export const recipientStatusSchema = z.enum(['pending', 'delivered', 'failed', 'skipped', 'recalled']);
export const failureReasonSchema = z.enum([
  'not-installed',
  'blocked-by-user',
  'conversation-not-found',
  'rejected',
  'expired',
  'retries-exhausted',
  'opted-out',
  'cancelled',
  'tenant-not-allowed',
  'not-enqueued',
  'invalid-job',
  'install-not-permitted',
  'user-not-found',
  'team-not-found',
  'graph-not-permitted',
  'group-not-found',
  'audience-exceeded',
  'untrusted-service-url',
]);

const count = z.number().int().min(0);

export const statusCountsSchema = z
  .object({ total: count, pending: count, delivered: count, failed: count, skipped: count, recalled: count, read: count })
  .strict();

const amendFailureSchema = z.object({ reason: failureReasonSchema, detail: z.string() }).strict();

export const recipientStatusRowSchema = z
  .object({
    recipient: recipientSchema,
    status: recipientStatusSchema,
    reason: failureReasonSchema.optional(),
    detail: z.string().optional().describe('What Teams (or the worker) said, for operators; absent once delivered'),
    attempts: count,
    activityId: z.string().optional(),
    conversationId: z.string().optional(),
    via: z.string().optional().describe('The key of the fan-out entry this recipient came from'),
    version: z.number().int().min(1).optional().describe('The message version Teams has'),
    editFailure: amendFailureSchema.optional(),
    recallFailure: amendFailureSchema.optional(),
    readAt: instant.optional().describe('When the recipient read it (personal chats only)'),
    readReceipts: z.literal('not-in-channels-or-group-chats').optional(),
    updatedAt: instant,
  })
  .strict();

export const notificationStatusResponseSchema = z
  .object({
    id: z.string(),
    status: notificationStatusSchema,
    createdAt: instant,
    sendAt: instant.optional(),
    expiresAt: instant.optional(),
    counts: statusCountsSchema,
    edits: z
      .object({ version: z.number().int().min(2), delivered: z.record(z.string(), count).describe('Recipients by the version Teams has'), failed: count })
      .strict()
      .optional()
      .describe('After a PATCH'),
    recalledAt: instant.optional(),
    callbacks: z
      .object({ failed: count, lastFailure: z.object({ eventId: z.string(), detail: z.string(), at: instant }).strict() })
      .strict()
      .optional()
      .describe('Callback events that could not be delivered'),
    recipients: z.array(recipientStatusRowSchema),
    continuationToken: z.string().optional().describe('Pass back as ?continuationToken= for the next page'),
  })
  .strict();

export type NotificationStatusResponse = z.infer<typeof notificationStatusResponseSchema>;
export type RecipientStatusRow = z.infer<typeof recipientStatusRowSchema>;

// The enums above are the domain's unions spelled again for the schema: a member added on one side only fails the build.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _status: Same<z.infer<typeof notificationStatusSchema>, NotificationStatus> = true;
const _recipientStatus: Same<z.infer<typeof recipientStatusSchema>, RecipientStatus> = true;
const _reason: Same<z.infer<typeof failureReasonSchema>, FailureReason> = true;
const _counts: Same<z.infer<typeof statusCountsSchema>, StatusCounts> = true;
const _recipient: Recipient extends z.infer<typeof recipientSchema> ? true : false = true;
void [_status, _recipientStatus, _reason, _counts, _recipient];
