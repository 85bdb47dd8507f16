import { DEFAULT_APP_NAME } from '../config';
import type { Job } from '../domain/job';
import type { DeliveryRecord } from '../domain/notification';
import type { FailureReason } from '../domain/outcome';
import type { Logger } from '../logger';
import type { JobQueue } from '../queue/jobQueue';
import type { ConversationStore } from '../stores/conversationStore';
import type { DeliveryChange, DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { OptOutStore } from '../stores/optOutStore';
import type { TeamsSender } from '../teams/teamsSender';
import { SLICE_LEAD_MS } from '../planning/planTargets';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff';
import type { TenantPacer } from '../pacing/tenantPacer';
import type { RecipientListStore } from '../stores/recipientListStore';
import type { SendBudget } from './sendBudget';
import type { PacedGraph } from '../graph/pacedGraph';
import type { SentMessageIndex } from './sentMessageIndex';
import type { ProactiveInstall } from './proactiveInstall';
import type { ServiceUrlTrust } from '../teams/trustedServiceUrl';
import type { Reach } from './resolveTarget';
import { CALLBACK_WINDOW_MS, type CallbackResult } from '../callbacks/callbackDelivery';
import type { CallbackSender } from '../callbacks/callbackSender';
import type { DeliveryMetrics } from '../telemetry/deliveryMetrics';
import { recipientTenant } from '../domain/recipient';

export interface DeliveryOptions {
  /** Send attempts per recipient that may fail transiently before `retries-exhausted`. */
  readonly maxAttempts: number;
  /** 429s one recipient may meet before giving up; throttling never spends `maxAttempts`. */
  readonly maxThrottles: number;
  readonly backoff: BackoffPolicy;
  /** How long a worker owns a recipient while sending; a crashed worker's claim expires after it. */
  readonly leaseMs: number;
  /** Tenants allowed (lower case); empty allows all. */
  readonly allowedTenants: readonly string[];
  readonly appName: string;
  /** Recipients per page when expanding allUsers / allTeams / teamMembers. */
  readonly expandPageSize: number;
  /** Unexpected errors (our own storage down) one job may meet, retried with backoff, before it gives up. */
  readonly maxFaults: number;
  /** A Retry-After longer than this is not believed: a broken header must not park a recipient for days. */
  readonly maxRetryAfterMs: number;
  /** When the tenant is paused for longer than this, a claimed recipient is handed back and re-scheduled instead of waited for. */
  readonly maxInlineWaitMs: number;
  /** A callback event is retried for this long after its first attempt, then recorded as failed. */
  readonly callbackWindowMs: number;
  readonly random?: () => number;
}

export const DEFAULT_DELIVERY_OPTIONS: DeliveryOptions = {
  maxAttempts: 6,
  maxThrottles: 30,
  backoff: DEFAULT_BACKOFF,
  leaseMs: 2 * 60_000,
  allowedTenants: [],
  appName: DEFAULT_APP_NAME,
  expandPageSize: 100,
  maxFaults: 10,
  maxRetryAfterMs: 5 * 60_000,
  maxInlineWaitMs: 5_000,
  callbackWindowMs: CALLBACK_WINDOW_MS,
};

export interface DeliveryDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly conversations: ConversationStore;
  readonly optOuts: OptOutStore;
  readonly queue: JobQueue;
  readonly sender: TeamsSender;
  readonly budget: SendBudget;
  /** The tenants' shared send timelines: planning reserves on them, 429s lower their rate. */
  readonly pacer: TenantPacer;
  readonly recipientLists: RecipientListStore;
  /** Personal-chat messages sent, indexed when their job ends so Teams' read receipts can find them. */
  readonly sentMessages: SentMessageIndex;
  /** Microsoft Graph, paced per tenant: lists the people of group and organization entries. */
  readonly graph: PacedGraph;
  /** Signs and POSTs callback events; set when CALLBACK_SIGNING_KEY is. */
  readonly callbacks?: CallbackSender;
  /** Which serviceUrls a stored reference may send to (TEAMS_SERVICE_URL_HOSTS). Required: a worker that trusted every host would fail open. */
  readonly serviceUrls: ServiceUrlTrust;
  /** Outcomes, latencies and throttling, for operators' charts (no-ops without an OpenTelemetry SDK). */
  readonly metrics: DeliveryMetrics;
  /** Set when proactive install is on (GRAPH_PROACTIVE_INSTALL): reaches people and teams the bot has never seen. */
  readonly install?: { readonly installer: ProactiveInstall; readonly reach: Reach };
  readonly options: DeliveryOptions;
}

/** The longest pause between two tries of a delivered status write that failed. */
const ACCEPTED_WRITE_MAX_PAUSE_MS = 4_000;

/** What handling one queue message came to: logged by the trigger, asserted by tests. */
export type Rescheduled = { readonly kind: 'rescheduled'; readonly delayMs: number; readonly why: string };

export type JobResult =
  | { readonly kind: 'delivered'; readonly activityId: string; readonly conversationId: string }
  | { readonly kind: 'failed' | 'skipped'; readonly reason: FailureReason; readonly detail: string }
  | Rescheduled
  | { readonly kind: 'expanded'; readonly recipients: number; readonly more: boolean }
  | { readonly kind: 'planned'; readonly recipients: number; readonly slices: number; readonly more: boolean }
  | { readonly kind: 'sliced'; readonly sends: number; readonly results: Readonly<Record<string, number>> }
  | { readonly kind: 'ignored'; readonly why: string }
  | { readonly kind: 'dead-lettered'; readonly reason: string; readonly detail: string }
  | CallbackResult;

/**
 * How a job step ends for its recipient row: a final status, a delayed copy of the job, or both.
 * Shared by delivering to one recipient and expanding a fan-out entry.
 */
export class Settlement {
  constructor(private readonly deps: Pick<DeliveryDependencies, 'deliveries' | 'queue' | 'options' | 'metrics'>) {}

  /**
   * A delayed copy for a retry that changed the job (attempt or throttle count), then the claim is
   * let go. `delayMs` is when it is due on the wall clock; a planned copy is visible a moment before.
   */
  async retryLater(job: Job, row: DeliveryRecord, attempts: number, delayMs: number, why: string): Promise<JobResult> {
    // Enqueue the copy before letting go of the recipient: if we die in between, the copy waits
    // out the lease instead of the recipient being lost.
    const lead = job.kind === 'deliver' && job.at !== undefined ? SLICE_LEAD_MS : 0;
    // At least a second out, so the copy does not find the claim we are about to let go.
    await this.deps.queue.enqueue([{ job, notBefore: new Date(Date.now() + Math.max(delayMs - lead, 1_000)) }]);
    await this.deps.deliveries.update(row, { attempts, leaseUntil: '', detail: why });
    return { kind: 'rescheduled', delayMs, why };
  }

  /** Puts the job back unchanged for later: a new hop, so the copy gets a message id of its own. */
  async reschedule(job: Job, delayMs: number, why: string): Promise<Rescheduled> {
    await this.deps.queue.enqueue([{ job: { ...job, hop: (job.hop ?? 0) + 1 }, notBefore: new Date(Date.now() + delayMs) }]);
    return { kind: 'rescheduled', delayMs, why };
  }

  async exhausted(job: Job, row: DeliveryRecord, attempts: number, detail: string, log: Logger): Promise<JobResult> {
    await this.deps.queue.deadLetter({ body: JSON.stringify(job), reason: 'retries-exhausted', description: detail });
    return this.finish(row, 'failed', 'retries-exhausted', detail, log, attempts);
  }

  /** `tenantId`: the tenant the recipient was found in, when known (the metrics' dimension). */
  finish(row: DeliveryRecord, status: 'failed' | 'skipped', reason: FailureReason, detail: string, log: Logger, attempts = row.attempts, tenantId?: string): Promise<JobResult> {
    return this.settle(row, { status, reason, detail, attempts }, { kind: status, reason, detail }, log, tenantId);
  }

  /** Writes a final status; the etag is ours while we hold the lease, so a conflict is worth a warning. */
  async settle(row: DeliveryRecord, change: DeliveryChange, result: JobResult, log: Logger, tenantId?: string): Promise<JobResult> {
    const final = { ...change, leaseUntil: '' };
    const update = await this.deps.deliveries.update(row, final);
    if (update.kind !== 'stale') this.counted(row, change, tenantId);
    if (update.kind === 'stale') {
      const fresh = await this.deps.deliveries.get(row.notificationId, row.recipientKey);
      log.warn(`delivery row changed while we held it (now ${fresh?.status ?? 'gone'})`, { notificationId: row.notificationId, recipient: row.recipientKey });
      // Our lease ran out and another worker claimed the row: it is sending now and will settle it.
      // (A claim still ours means someone else wrote another field: the final status is still ours to write.)
      const heldByAnother = fresh?.leaseUntil !== undefined && fresh.leaseUntil !== row.leaseUntil && Date.parse(fresh.leaseUntil) > Date.now();
      if (fresh !== undefined && fresh.status === 'pending' && !heldByAnother && (await this.deps.deliveries.update(fresh, final)).kind !== 'stale') this.counted(row, change, tenantId);
      // Our own write, landed on a try whose answer was lost (settleAccepted tries again): count it now.
      else if (fresh?.status === 'delivered' && change.status === 'delivered' && fresh.activityId === change.activityId) this.counted(row, change, tenantId);
    }
    return result;
  }

  /** A final status written: counted once, by the write that made it. */
  private counted(row: DeliveryRecord, change: DeliveryChange, tenantId: string | undefined): void {
    const tenant = tenantId ?? change.sentVia?.tenantId ?? recipientTenant(row.recipient);
    if (change.status === 'delivered') this.deps.metrics.ended({ status: 'delivered' }, tenant);
    else if ((change.status === 'failed' || change.status === 'skipped') && change.reason !== undefined) this.deps.metrics.ended({ status: change.status, reason: change.reason }, tenant);
  }

  /**
   * Writes the final status of a message Teams has accepted. A write that fails (our storage is
   * down) is tried again while our claim keeps every other copy of the job from sending, so an
   * outage shorter than the claim sends nobody twice. Once the claim has run out, the error goes
   * up: a copy may then send again, which is the documented window.
   */
  async settleAccepted(row: DeliveryRecord, change: DeliveryChange, result: JobResult, log: Logger): Promise<JobResult> {
    const claimEnds = row.leaseUntil !== undefined && row.leaseUntil !== '' ? Date.parse(row.leaseUntil) : 0;
    for (let pauseMs = 500; ; pauseMs = Math.min(pauseMs * 2, ACCEPTED_WRITE_MAX_PAUSE_MS)) {
      try {
        return await this.settle(row, change, result, log);
      } catch (error) {
        if (Date.now() + pauseMs >= claimEnds) {
          log.error('Teams accepted the message but it could not be recorded as delivered before the claim ran out; a copy of the job may send it again', { notificationId: row.notificationId, recipient: row.recipientKey, error });
          throw error;
        }
        log.warn('could not record the recipient as delivered; trying again while the claim holds', { notificationId: row.notificationId, recipient: row.recipientKey, error });
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
  }

  tenantAllowed(tenantId: string): boolean {
    const allowed = this.deps.options.allowedTenants;
    return allowed.length === 0 || allowed.includes(tenantId.toLowerCase());
  }
}

export function describeResult(result: JobResult): string {
  switch (result.kind) {
    case 'delivered':
      return `delivered as ${result.activityId}`;
    case 'failed':
    case 'skipped':
      return `${result.kind} (${result.reason}): ${result.detail}`;
    case 'rescheduled':
      return `retry in ${result.delayMs} ms (${result.why})`;
    case 'expanded':
      return `expanded into ${result.recipients} recipients${result.more ? ', more to come' : ''}`;
    case 'planned':
      return `planned ${result.recipients} recipients in ${result.slices} slices${result.more ? ', more to come' : ''}`;
    case 'sliced':
      return `sent a slice of ${result.sends} (${Object.entries(result.results).map(([kind, n]) => `${n} ${kind}`).join(', ')})`;
    case 'ignored':
      return `nothing to do: ${result.why}`;
    case 'dead-lettered':
      return `dead-lettered (${result.reason}): ${result.detail}`;
    case 'callback':
      return `callback ${result.outcome}: ${result.detail}`;
  }
}
