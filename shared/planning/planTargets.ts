import { createHash } from 'node:crypto';
import { mapLimit } from '../mapLimit';
import type { PlannedSend, SliceJob } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import { recipientKey, type TargetRecipient } from '../domain/recipient';
import type { Lane } from '../pacing/tenantTimeline';
import type { TenantPacer } from '../pacing/tenantPacer';
import type { QueuedJob } from '../queue/jobQueue';
import type { ConversationStore } from '../stores/conversationStore';
import type { DeliveryStore, NewDelivery } from '../stores/deliveryStore';
import { resolveTarget, routeOf, type Reach, type ResolvedTarget } from '../delivery/resolveTarget';

/** Sends in one slice at most: about a second at 50 per second, and well inside a queue message. */
export const MAX_SENDS_PER_SLICE = 50;
/** A slice spans at most this much of its tenant's timeline. */
const SLICE_SPAN_MS = 1_000;
/**
 * Slices become visible this long before their first send: Azure Storage queue delays have whole
 * seconds, and the local poller looks once a second when the queue seems idle; the worker waits
 * out the rest.
 */
export const SLICE_LEAD_MS = 3_000;
/**
 * A slice or planned retry that arrives more than this before its time goes back to the queue
 * until shortly before it, rather than hold a worker: a 429 since it was planned slowed the
 * tenant's clock, so its time moved.
 */
export const EARLY_LIMIT_MS = SLICE_LEAD_MS + 2_000;
/** The earliest a planned send may be: time for its slice to reach a worker. */
const FIRST_SEND_LEAD_MS = 500;
/** Targets resolved at once while planning a page. */
const RESOLVE_CONCURRENCY = 16;
/** The tenant of targets the stored references cannot place: their rows settle without a send. */
export const UNRESOLVED_TENANT = 'unresolved';

export interface PlanDependencies {
  readonly deliveries: DeliveryStore;
  readonly conversations: ConversationStore;
  readonly pacer: TenantPacer;
  /** Set when proactive install is on: people and teams the bot has not seen are planned for it. */
  readonly install?: { readonly reach: Reach };
  readonly now?: () => number;
}

/** A target to plan; a listing that already read the recipient's reference passes where it goes. */
export interface PlanTarget extends NewDelivery {
  readonly resolved?: ResolvedTarget;
}

export interface PlannedPage {
  /** Slice jobs to enqueue, each made visible shortly before its first send. */
  readonly slices: readonly QueuedJob[];
  readonly recipients: number;
  /** How far ahead the busiest tenant of the page is planned now: the next page waits when it is far. */
  readonly backlogMs: number;
}

/**
 * Turns one page of targets into pending rows and slices on their tenants' timelines. Rows come
 * first, so the status counts them before anything is sent. Planning the same page again (a
 * redelivered job) is harmless: each recipient's row lets only one send through.
 */
export async function planTargets(
  notification: NotificationRecord,
  targets: readonly PlanTarget[],
  pageId: string,
  deps: PlanDependencies,
): Promise<PlannedPage> {
  const now = deps.now?.() ?? Date.now();
  const reach = deps.install?.reach;
  const resolved = await mapLimit(targets, RESOLVE_CONCURRENCY, async (target) => {
    if (target.resolved !== undefined) return { target, resolved: target.resolved };
    const recipient = target.recipient as TargetRecipient;
    const resolution = await resolveTarget(recipient, deps.conversations, reach);
    const key = await canonicalKey(recipient, target.recipientKey, resolution, deps.conversations);
    // A page planned again (a redelivered job) after the bot learnt the other spelling keeps the row it made the first time.
    const keep = key !== target.recipientKey && (await deps.deliveries.get(notification.id, target.recipientKey)) !== undefined;
    return { target: { ...target, recipientKey: keep ? target.recipientKey : key }, resolved: resolution };
  });
  // One row per person or team, however many entries or spellings reach them.
  const placed = [...new Map(resolved.map((p) => [p.target.recipientKey, p])).values()];
  const created = await deps.deliveries.createPending(
    notification.id,
    placed.map((p) => p.target),
  );
  const byTenant = new Map<string, Placed[]>();
  for (const { target, resolved } of placed) {
    const tenant = tenantOf(resolved);
    const list = byTenant.get(tenant) ?? [];
    list.push({ target, resolved, etag: created.get(target.recipientKey), cost: connectorCalls(resolved) });
    byTenant.set(tenant, list);
  }

  const earliest = Math.max(now + FIRST_SEND_LEAD_MS, notification.sendAt !== undefined ? Date.parse(notification.sendAt) : now);
  const lane: Lane = notification.priority === 'urgent' ? 'urgent' : 'bulk';
  const slices: QueuedJob[] = [];
  let backlogMs = 0;
  for (const [tenantId, entries] of byTenant) {
    let sends: PlannedSend[];
    let shiftMs = 0;
    if (tenantId === UNRESOLVED_TENANT) {
      sends = entries.map((entry) => planned(entry, earliest));
    } else {
      const reservation = await deps.pacer.reserve(tenantId, entries.reduce((sum, e) => sum + e.cost, 0), earliest, lane);
      shiftMs = reservation.shiftMs;
      let offset = 0;
      sends = entries.map((entry) => {
        const send = planned(entry, reservation.startAt + offset * reservation.spacingMs);
        offset += entry.cost;
        return send;
      });
      backlogMs = Math.max(backlogMs, await deps.pacer.backlogMs(tenantId));
    }
    cut(sends).forEach((part, index) => {
      const first = part[0] as PlannedSend;
      const job: SliceJob = { v: 1, kind: 'slice', notificationId: notification.id, tenantId, sliceId: sliceId(pageId, tenantId, index), sends: part };
      // A later pause only makes it early: the worker waits for each send's due time.
      const visibleAt = first.at + shiftMs - SLICE_LEAD_MS;
      slices.push({ job, ...(visibleAt > now && { notBefore: new Date(visibleAt) }) });
    });
  }
  return { slices, recipients: placed.length, backlogMs };
}

/**
 * The key a recipient's row goes by: a user named by Teams id whose Entra object id the bot knows
 * goes by the object id (the key group, organization and all-users listings give), and a team named
 * by its group id goes by its team id once known, so that two spellings of one person or team share
 * one row and get one message.
 */
async function canonicalKey(recipient: TargetRecipient, key: string, resolved: ResolvedTarget, conversations: ConversationStore): Promise<string> {
  if (recipient.type === 'user' && recipient.userId !== undefined && resolved.kind !== 'unreachable') {
    const aadObjectId = resolved.kind === 'create-personal' ? resolved.user.aadObjectId : (await conversations.findUser(recipient))?.aadObjectId;
    return aadObjectId !== undefined ? recipientKey({ type: 'user', aadObjectId }) : key;
  }
  if (recipient.type === 'team' && recipient.aadGroupId !== undefined && resolved.kind === 'new-thread') {
    return recipientKey({ type: 'team', teamId: resolved.channelId });
  }
  return key;
}

interface Placed {
  readonly target: NewDelivery;
  readonly resolved: ResolvedTarget;
  /** Set when this call created the row: the send claims it with this ETag, without a read. */
  readonly etag: string | undefined;
  readonly cost: number;
}

function planned({ target, resolved, etag }: Placed, at: number): PlannedSend {
  const route = routeOf(resolved);
  return {
    recipientKey: target.recipientKey,
    recipient: target.recipient as TargetRecipient,
    at: Math.round(at),
    ...(route !== undefined && { route }),
    ...(etag !== undefined && { etag }),
  };
}

/**
 * Consecutive sends (sorted by time), at most a second of timeline and `MAX_SENDS_PER_SLICE` each:
 * how a notification's slices and a batch of queued welcomes are cut into jobs.
 */
export function cut<T extends { readonly at: number }>(sends: readonly T[]): T[][] {
  const parts: T[][] = [];
  let current: T[] = [];
  for (const send of sends) {
    const first = current[0];
    if (first !== undefined && (current.length >= MAX_SENDS_PER_SLICE || send.at - first.at >= SLICE_SPAN_MS)) {
      parts.push(current);
      current = [];
    }
    current.push(send);
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

function tenantOf(resolved: ResolvedTarget): string {
  return resolved.kind === 'unreachable' ? UNRESOLVED_TENANT : resolved.at.tenantId;
}

/** Connector calls a target will take: a 1:1 chat not created yet costs a create and a send. */
function connectorCalls(resolved: ResolvedTarget): number {
  return resolved.kind === 'create-personal' ? 2 : 1;
}

/** The same page of the same tenant always gets the same slice ids, so duplicate detection sees a re-plan. */
export function sliceId(pageId: string, tenantId: string, index: number): string {
  return `${createHash('sha256').update(`${pageId}\n${tenantId}`).digest('base64url').slice(0, 22)}.${index}`;
}
