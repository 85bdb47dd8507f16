import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ConversationKind } from './reference';

/**
 * What a welcome says, and the facts it names: enough to render it when it goes out (so a queued
 * welcome carries a few ids and names, not a rendered card).
 */
export type WelcomeContent =
  | { readonly kind: 'personal' }
  | { readonly kind: 'team'; readonly addedBy?: string; readonly teamName?: string }
  | { readonly kind: 'groupChat'; readonly addedBy?: string };

/**
 * One welcome per installation, keyed: a team install by its team, a personal install by the
 * user's Entra object id (so a proactive install, which knows only that, can say its first
 * notification stands in for the welcome before Teams tells the bot of the install), and a
 * group chat, or a user Teams gives no object id for, by the conversation.
 */
export const welcomeKeys = {
  team: (teamId: string): string => `team:${teamId}`,
  personal: (aadObjectId: string): string => `personal:${aadObjectId.toLowerCase()}`,
  conversation: (conversationId: string): string => conversationId,
} as const;

/** Where a welcome goes: the conversation the install happened in. */
export interface WelcomeAddress {
  readonly serviceUrl: string;
  readonly tenantId: string;
  readonly botId: string;
  readonly conversationId: string;
  readonly conversationType: ConversationKind;
}

/** One installation's welcome, with the send time its tenant's timeline gave it. */
export interface WelcomeSend {
  /** The welcome store's key: one welcome per installation. */
  readonly key: string;
  /** Which claim of that key this is: a job left over from an earlier install of the same chat sends nothing. */
  readonly claimId: string;
  readonly to: WelcomeAddress;
  readonly welcome: WelcomeContent;
  /** Send time on the tenant's timeline (the plan's clock, epoch ms; see `TenantPacer.dueAt`). */
  readonly at: number;
  /** Transient failures so far. */
  readonly attempt: number;
  /** 429s so far: kept apart so throttling never exhausts the retry budget. */
  readonly throttled: number;
  /** Re-schedules that were no attempt (the welcome was held by another copy, the tenant paused). */
  readonly hop: number;
}

/**
 * Welcomes that could not go out at once: about a second of one tenant's timeline (or one retry),
 * scheduled for its first send time, sent like a notification's slice. A welcome job names no
 * notification, so it is not a `Job`: the job router hands it to the bot's welcome delivery.
 */
export interface WelcomeJob {
  readonly v: 1;
  readonly kind: 'welcome';
  readonly tenantId: string;
  /** Unique per batch (or per retry step of one welcome): the message id comes from it. */
  readonly batchId: string;
  readonly sends: readonly WelcomeSend[];
  /** Unexpected errors (our own storage) the whole job met, retried with backoff. */
  readonly faults?: number;
}

const name = z.string().min(1).max(500).optional();

const welcomeContentSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('personal') }),
  z.object({ kind: z.literal('team'), addedBy: name, teamName: name }),
  z.object({ kind: z.literal('groupChat'), addedBy: name }),
]);

const welcomeSendSchema = z.object({
  key: z.string().min(1),
  claimId: z.string().min(1),
  to: z.object({
    serviceUrl: z.string().min(1),
    tenantId: z.string().min(1),
    botId: z.string().min(1),
    conversationId: z.string().min(1),
    conversationType: z.enum(['personal', 'groupChat', 'channel']),
  }),
  welcome: welcomeContentSchema,
  at: z.number(),
  attempt: z.number().int().min(0),
  throttled: z.number().int().min(0),
  hop: z.number().int().min(0),
});

export const welcomeJobSchema = z.object({
  v: z.literal(1),
  kind: z.literal('welcome'),
  tenantId: z.string().min(1),
  batchId: z.string().min(1).max(200),
  sends: z.array(welcomeSendSchema).min(1).max(100),
  faults: z.number().int().min(0).optional(),
});

/**
 * A queue body that says it is a welcome job: the job, or why it is poison. `undefined` for any
 * other body (a notification job, or poison the delivery worker reports on).
 */
export function parseWelcomeJob(body: unknown): { ok: true; job: WelcomeJob } | { ok: false; reason: string } | undefined {
  let value: unknown = body;
  try {
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
    if (typeof value === 'string') value = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || (value as { kind?: unknown }).kind !== 'welcome') return undefined;
  const parsed = welcomeJobSchema.safeParse(value);
  if (parsed.success) return { ok: true, job: parsed.data };
  const first = parsed.error.issues[0];
  return { ok: false, reason: `body is not a welcome job: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}` };
}

/** Deterministic message id, as `jobMessageId` gives notification jobs: the same step, the same id. */
export function welcomeMessageId(job: WelcomeJob): string {
  const digest = createHash('sha256').update(`welcome\n${job.tenantId}\n${job.batchId}\n${job.faults ?? 0}`).digest('base64url');
  return `welcome-${digest}`;
}

export function describeWelcomeJob(job: WelcomeJob): string {
  return `welcome ${job.batchId} (${job.sends.length} welcome${job.sends.length === 1 ? '' : 's'}, tenant ${job.tenantId})`;
}
