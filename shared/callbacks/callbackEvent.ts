import type { NotificationStatus } from '../domain/notification';

/**
 * What a caller's `callbackUrl` is told, one event per POST. The `id` names the fact, not the
 * attempt: delivery is at least once, so the same event can arrive twice and a receiver drops
 * the second by its id.
 */
export type CallbackEvent = NotificationCompletedEvent | RecipientFailedEvent | NotificationRecalledEvent;

export type CallbackEventType = CallbackEvent['type'];

/** Counts as the status API shows them (`total`, `pending`, `delivered`, ..., `read` once known). */
export type CallbackCounts = Readonly<Record<string, number>>;

interface EventBase {
  /** Stable for the same fact (`${notificationId}:completed`), so redeliveries share it. */
  readonly id: string;
  readonly notificationId: string;
  /** ISO 8601: when the fact happened, not when this attempt was sent. */
  readonly occurredAt: string;
}

export interface NotificationCompletedEvent extends EventBase {
  readonly type: 'notification.completed';
  readonly status: NotificationStatus;
  readonly counts: CallbackCounts;
}

export interface RecipientFailedEvent extends EventBase {
  readonly type: 'recipient.failed';
  /** The recipient as the request named it (a JSON object). */
  readonly recipient: Readonly<Record<string, unknown>>;
  readonly reason: string;
  readonly detail: string;
}

export interface NotificationRecalledEvent extends EventBase {
  readonly type: 'notification.recalled';
  readonly counts: CallbackCounts;
}

/**
 * `occasion` tells apart the same kind of fact happening again for a notification (a resend to the
 * failed completes it a second time, a recipient can fail again after it, a recall can be asked
 * again): each occasion is a fact of its own, with an id of its own.
 */
type Fields<E extends CallbackEvent> = Omit<E, 'id' | 'type' | 'occurredAt'> & { readonly occurredAt?: string; readonly occasion?: string | number };

const suffix = (occasion: string | number | undefined): string => (occasion === undefined ? '' : `:${occasion}`);

export function completedEvent(fields: Fields<NotificationCompletedEvent>): NotificationCompletedEvent {
  const { occasion, ...rest } = fields;
  return { ...rest, id: `${fields.notificationId}:completed${suffix(occasion)}`, type: 'notification.completed', occurredAt: fields.occurredAt ?? new Date().toISOString() };
}

/** `recipientKey` is the delivery row's key. */
export function recipientFailedEvent(fields: Fields<RecipientFailedEvent> & { readonly recipientKey: string }): RecipientFailedEvent {
  const { recipientKey, occasion, ...rest } = fields;
  return { ...rest, id: `${fields.notificationId}:failed:${recipientKey}${suffix(occasion)}`, type: 'recipient.failed', occurredAt: fields.occurredAt ?? new Date().toISOString() };
}

export function recalledEvent(fields: Fields<NotificationRecalledEvent>): NotificationRecalledEvent {
  const { occasion, ...rest } = fields;
  return { ...rest, id: `${fields.notificationId}:recalled${suffix(occasion)}`, type: 'notification.recalled', occurredAt: fields.occurredAt ?? new Date().toISOString() };
}

/**
 * The exact bytes that are signed and sent. Keys are sorted at every level, so the same event
 * always gives the same body, however it was built or stored (a retry from the queue signs the
 * same bytes as the first attempt).
 */
export function serializeEvent(event: CallbackEvent): string {
  return JSON.stringify(event, (_key, value: unknown) => (isPlainObject(value) ? sortKeys(value) : value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = value[key];
  return sorted;
}
