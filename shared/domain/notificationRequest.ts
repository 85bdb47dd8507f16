import { z } from 'zod';
import { messageSchema } from './message';
import { recipientSchema, type Recipient } from './recipient';
import type { Message } from './message';

/** How many recipient entries one request may name; fan-out entries (allUsers, ...) count as one. */
export const MAX_RECIPIENTS_PER_REQUEST = 10_000;

const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T09:00:00Z' });

export const notificationRequestSchema = z
  .object({
    recipients: z.array(recipientSchema).min(1, 'name at least one recipient').max(MAX_RECIPIENTS_PER_REQUEST),
    message: messageSchema,
    sendAt: instant.optional(),
    expiresAt: instant.optional(),
    priority: z.enum(['normal', 'urgent']).optional(),
    maxAudience: z.number().int('maxAudience must be a whole number').min(1, 'maxAudience must be at least 1').optional(),
    callbackUrl: z.string().min(1).max(2048, 'callbackUrl is too long').optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.sendAt !== undefined && r.expiresAt !== undefined && Date.parse(r.expiresAt) <= Date.parse(r.sendAt)) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'expiresAt must be after sendAt' });
    }
    if (r.expiresAt !== undefined && Date.parse(r.expiresAt) <= Date.now()) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'expiresAt is already in the past' });
    }
  });

/**
 * Why `sendAt` is further ahead than `horizonDays` (SEND_AT_HORIZON_DAYS), or undefined. A bound,
 * so a scheduled send stays inside what the sweeper and the retention purge are tuned for.
 */
export function sendAtBeyondHorizon(sendAt: string | undefined, horizonDays: number, now = Date.now()): string | undefined {
  if (sendAt === undefined || Date.parse(sendAt) <= now + horizonDays * 24 * 3600_000) return undefined;
  return `sendAt may be at most ${horizonDays} days ahead (SEND_AT_HORIZON_DAYS)`;
}

export interface NotificationRequest {
  readonly recipients: readonly Recipient[];
  readonly message: Message;
  readonly sendAt?: string;
  readonly expiresAt?: string;
  /** `urgent` goes ahead of its tenants' bulk backlog (see `Lane`). */
  readonly priority?: 'normal' | 'urgent';
  /** The most people the fan-out entries may reach: required above AUDIENCE_GUARD, and a cap while expanding. */
  readonly maxAudience?: number;
  /** Where signed events about the notification go (checked at the edge: https, or loopback locally; no private addresses). */
  readonly callbackUrl?: string;
}
