import { z } from 'zod';
import type { FieldError } from '../http/problem';
import { fieldErrors } from '../http/problem';
import type { IncomingActivity } from './incomingActivity';

/**
 * The shape of an incoming Bot Framework activity, for the fields this service reads: the core
 * (`IncomingActivity`) and botbuilder, which copies `from`, `recipient`, `conversation`,
 * `channelId`, `serviceUrl`, `locale` and `id` into every reply (its serializer throws on a wrong
 * type there, and the handler calls string methods on `type`, `action`, `text`, ids...).
 *
 * Every object is loose: fields not named here pass through untouched, since botbuilder and
 * Teams' features read more than the core does. Only what an attacker could use to make the code
 * throw is checked; trust (which serviceUrl hosts) is a separate check on top.
 */

const text = z.string().max(64 * 1024);
const id = z.string().min(1, 'must be a non-empty string').max(1024);

/** http or https, parseable: botbuilder sends replies (and, with an app id, its token) there. */
export const serviceUrlSchema = z.string().max(2048).refine(isHttpUrl, { message: 'must be an http or https URL' });

const channelAccountSchema = z.looseObject({
  id,
  name: text.optional(),
  aadObjectId: text.optional(),
  role: text.optional(),
});

const conversationSchema = z.looseObject({
  id,
  name: text.optional(),
  conversationType: text.optional(),
  tenantId: text.optional(),
  isGroup: z.boolean().optional(),
  aadObjectId: text.optional(),
  role: text.optional(),
});

const channelDataSchema = z.looseObject({
  tenant: z.looseObject({ id: text.optional() }).optional(),
  team: z.looseObject({ id: text.optional(), name: text.optional(), aadGroupId: text.optional() }).optional(),
  channel: z.looseObject({ id: text.optional(), name: text.optional() }).optional(),
  eventType: text.optional(),
});

/** An ISO-like date string: the endpoint turns it into a Date, as botbuilder's own `process` would. */
const timestamp = z.string().max(64).refine((value) => !Number.isNaN(Date.parse(value)), { message: 'must be a date-time' });

export const incomingActivitySchema = z.looseObject({
  type: z.string().min(1, 'must be a non-empty string').max(256),
  id: text.optional(),
  action: text.optional(),
  name: text.optional(),
  text: text.optional(),
  value: z.unknown().optional(),
  serviceUrl: serviceUrlSchema,
  channelId: id,
  locale: text.optional(),
  replyToId: text.optional(),
  deliveryMode: text.optional(),
  timestamp: timestamp.optional(),
  localTimestamp: timestamp.optional(),
  expiration: timestamp.optional(),
  from: channelAccountSchema,
  recipient: channelAccountSchema,
  conversation: conversationSchema,
  channelData: channelDataSchema.optional(),
  membersAdded: z.array(channelAccountSchema).optional(),
  membersRemoved: z.array(channelAccountSchema).optional(),
});

export type CheckedActivity =
  | { readonly ok: true; readonly activity: IncomingActivity & Record<string, unknown> }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

/** The body as an activity the bot can read, or the fields that are wrong (paths like `recipient.id`). */
export function checkActivity(body: unknown): CheckedActivity {
  const parsed = incomingActivitySchema.safeParse(body);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error) };
  return { ok: true, activity: parsed.data as IncomingActivity & Record<string, unknown> };
}

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const { protocol, hostname } = new URL(value);
  return (protocol === 'https:' || protocol === 'http:') && hostname !== '';
}
