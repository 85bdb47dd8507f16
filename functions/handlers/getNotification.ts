import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { notificationStatus, type DeliveryRecord } from '../../shared/domain/notification';
import type { NotificationStatusResponse, RecipientStatusRow } from '../../shared/domain/notificationStatusResponse';
import { problem } from '../../shared/http/problem';
import { services } from '../../shared/services';
import { tableContinuation } from '../../shared/stores/page';

const MAX_PAGE_SIZE = 1000;

/** GET /api/notifications/{id}: overall status, counts, and one page of per-recipient rows. */
export async function getNotification(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const pageSizeText = request.query.get('pageSize');
  const pageSize = pageSizeText === null ? 100 : Number(pageSizeText);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    return problem(400, `pageSize must be a whole number from 1 to ${MAX_PAGE_SIZE}`, { errors: [{ path: 'query:pageSize', message: 'out of range' }] });
  }
  const token = request.query.get('continuationToken') ?? undefined;
  const continuationToken = token === undefined ? undefined : decodeToken(token);
  if (token !== undefined && continuationToken === undefined) {
    return problem(400, 'continuationToken is not one this API gave out', { errors: [{ path: 'query:continuationToken', message: 'invalid' }] });
  }

  const svc = services();
  await svc.ready();
  const record = /^[a-z0-9]{1,64}$/.test(id) ? await svc.notifications.get(id) : undefined;
  if (record === undefined) return problem(404, `no notification with id "${id}"`);

  const [{ counts, anyAttempted, edits }, page] = await Promise.all([
    svc.deliveries.counts(id),
    svc.deliveries.list(id, continuationToken, pageSize),
  ]);
  const body: NotificationStatusResponse = {
    id,
    status: notificationStatus(record, counts, anyAttempted),
    createdAt: record.createdAt,
    ...(record.sendAt !== undefined && { sendAt: record.sendAt }),
    ...(record.expiresAt !== undefined && { expiresAt: record.expiresAt }),
    counts,
    // After a PATCH: the current version, and which version Teams has, recipient by recipient.
    ...(record.messageVersion !== undefined && record.messageVersion > 1 && { edits: { version: record.messageVersion, delivered: edits.byVersion, failed: edits.failed } }),
    ...(record.recalledAt !== undefined && { recalledAt: record.recalledAt }),
    ...(record.callbackFailures !== undefined && { callbacks: { failed: record.callbackFailures.count, lastFailure: record.callbackFailures.last } }),
    recipients: page.items.map(toRecipientStatus),
    ...(page.continuationToken !== undefined && { continuationToken: Buffer.from(page.continuationToken, 'utf8').toString('base64url') }),
  };
  return { status: 200, jsonBody: body };
}

function toRecipientStatus(row: DeliveryRecord): RecipientStatusRow {
  return {
    recipient: row.recipient,
    status: row.status,
    ...(row.reason !== undefined && { reason: row.reason }),
    ...(row.detail !== undefined && row.status !== 'delivered' && { detail: row.detail }),
    attempts: row.attempts,
    ...(row.activityId !== undefined && { activityId: row.activityId }),
    ...(row.conversationId !== undefined && { conversationId: row.conversationId }),
    ...(row.fromKey !== undefined && { via: row.fromKey }),
    ...(row.version !== undefined && { version: row.version }),
    ...(row.editFailure !== undefined && { editFailure: row.editFailure }),
    ...(row.recallFailure !== undefined && { recallFailure: row.recallFailure }),
    ...readReceipt(row),
    updatedAt: row.updatedAt,
  };
}

/**
 * Teams sends read receipts for personal chats only: a channel or group chat post says so, rather
 * than look unread forever.
 */
function readReceipt(row: DeliveryRecord): { readAt?: string; readReceipts?: 'not-in-channels-or-group-chats' } {
  if (row.readAt !== undefined) return { readAt: row.readAt };
  if (row.landsIn !== undefined && row.landsIn !== 'personal' && (row.status === 'delivered' || row.status === 'recalled')) return { readReceipts: 'not-in-channels-or-group-chats' };
  return {};
}

/**
 * Our token wraps the Table Storage one (base64 JSON with an opaque `nextPartitionKey`); anything
 * else is a 400, never a 500 from the SDK. A token from another notification is harmless: the
 * query stays filtered to this notification's partition.
 */
function decodeToken(token: string): string | undefined {
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  if (decoded.length === 0 || Buffer.from(decoded, 'utf8').toString('base64url') !== token) return undefined;
  return tableContinuation(decoded);
}
