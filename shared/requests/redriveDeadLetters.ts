import { parseJob, type DeliverJob, type Job, type SliceJob } from '../domain/job';
import type { DeliveryRecord } from '../domain/notification';
import type { FailureReason, RecipientStatus } from '../domain/outcome';
import type { DeadLetterEntry, DeadLetters } from '../queue/deadLetters';
import type { JobQueue } from '../queue/jobQueue';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import { reopenDelivery } from '../stores/reopenDelivery';

export interface RedriveDependencies {
  readonly deadLetters: DeadLetters;
  readonly deliveries: DeliveryStore;
  readonly notifications: NotificationStore;
  readonly queue: JobQueue;
}

/**
 * What a redrive did with one recipient the job is about:
 * - `reset`: the row had failed because of this dead letter; it is pending again;
 * - `requeued`: the row was still pending (nothing settled it): the job goes back as it is;
 * - `left`: the row is settled for a reason of its own (delivered, opted out, ...), or gone: not sent again.
 */
export interface RecipientRedrive {
  readonly recipientKey: string;
  readonly action: 'reset' | 'requeued' | 'left';
  /** The row's status before the redrive (absent: no row). */
  readonly status?: RecipientStatus;
  readonly reason?: FailureReason;
}

/**
 * What became of the letter once its job was back on the queue: `removed` from the dead letters,
 * or `kept` there because it could not be removed (Service Bus: more than 1,000 letters ahead of
 * it, or locked by someone else). A kept letter stays listed; redriving it again enqueues the job
 * again (on Service Bus the same copy, which duplicate detection drops inside its window).
 */
export type LetterOutcome = 'removed' | 'kept';

export type RedriveResult =
  | { readonly kind: 'not-found' }
  /** Nothing in the letter can be sent again safely; the letter stays parked. */
  | { readonly kind: 'refused'; readonly id: string; readonly why: string; readonly recipients: readonly RecipientRedrive[] }
  | {
      readonly kind: 'redriven';
      readonly id: string;
      readonly jobKind: Job['kind'];
      readonly notificationId: string;
      readonly recipients: readonly RecipientRedrive[];
      readonly letter: LetterOutcome;
    };

/** Job kinds whose rows a cancel or a recall ended: sending them again would undo it. */
const RECIPIENT_KINDS: ReadonlySet<Job['kind']> = new Set(['deliver', 'expand', 'slice', 'plan', 'retry']);
const RESET_ROUNDS = 3;

/**
 * `POST /api/deadletters/{id}/redrive`: puts a parked job back on the queue, when that is safe.
 *
 * Per kind:
 * - deliver, expand: its recipient's row must be pending (re-queued as is) or have failed
 *   `retries-exhausted` with the letter's own description, which is how giving up on this very job
 *   wrote it (reset to pending under its ETag). Anything else (delivered, skipped opted-out, failed
 *   for a reason Teams gave) is left alone and the letter refused.
 * - slice: the same test per recipient; the copy carries only the eligible ones.
 * - plan, retry, amend, amendSlice, watch, callback: re-queued as they are. They only create rows
 *   that are absent, reopen rows by their own rules, or change rows that are delivered already, so
 *   a second run sends nobody twice.
 * A body that is not a notification job (poison, a welcome) is refused, as is a recipient job of a
 * notification cancelled, recalled or gone.
 *
 * The copy is the job with one more `hop`, its fault count reset and (deliver, expand) its
 * `attempt` and `throttled` reset, so it has a message id of its own (Service Bus would drop a copy
 * with the old one) and a full retry budget: a letter parked after its retries ran out would
 * otherwise give up on its first transient error. A second redrive of the same letter builds the
 * same copy, so Service Bus' duplicate detection drops it. Rows are reopened (`reopenDelivery`:
 * pending, attempts and sweeps 0, as `RetryFailed` reopens them) before the copy is enqueued (a
 * worker must find them pending), and a redriven plan job first puts the notification back to
 * `planning` (giving up on it had marked it planned), so the sweeper keeps it in its index until the
 * plan's rows exist. The letter is removed last: a crash in between leaves it listed, and a second
 * redrive finds the rows pending and re-queues the same copy. When it cannot be removed (see
 * `LetterOutcome`) the result says `letter: 'kept'`.
 */
export async function redriveDeadLetter(id: string, deps: RedriveDependencies): Promise<RedriveResult> {
  const entry = await deps.deadLetters.get(id);
  if (entry === undefined) return { kind: 'not-found' };
  return redriveEntry(entry, deps);
}

export async function redriveEntry(entry: DeadLetterEntry, deps: RedriveDependencies): Promise<RedriveResult> {
  const refuse = (why: string, recipients: readonly RecipientRedrive[] = []): RedriveResult => ({ kind: 'refused', id: entry.id, why, recipients });
  const parsed = parseJob(entry.body);
  if (!parsed.ok) return refuse(`the body is not a notification job (${parsed.reason})`);
  const { job } = parsed;
  const notification = await deps.notifications.get(job.notificationId);
  if (notification === undefined) return refuse('the notification no longer exists');
  if (RECIPIENT_KINDS.has(job.kind) && (notification.cancelled === true || notification.recalledAt !== undefined)) {
    return refuse(`the notification was ${notification.cancelled === true ? 'cancelled' : 'recalled'}`);
  }
  // Back in the sweeper's index before any row is reset to pending (see NotificationStore.markUnfinished).
  if (RECIPIENT_KINDS.has(job.kind)) await deps.notifications.markUnfinished(notification);
  // Giving up on a plan marked it planned: until the copy has created its rows, the sweeper must
  // not take the notification out of its index for having no pending row.
  if (job.kind === 'plan') await deps.notifications.markPlanning(job.notificationId);

  let copy: Job | undefined;
  let recipients: RecipientRedrive[] = [];
  switch (job.kind) {
    case 'deliver':
    case 'expand': {
      const outcome = await reopen(job.notificationId, job.recipientKey, entry, deps.deliveries);
      recipients = [outcome];
      copy = outcome.action === 'left' ? undefined : redriven(job);
      break;
    }
    case 'slice': {
      recipients = [];
      for (const send of job.sends) recipients.push(await reopen(job.notificationId, send.recipientKey, entry, deps.deliveries));
      const eligible = new Set(recipients.filter((r) => r.action !== 'left').map((r) => r.recipientKey));
      copy = eligible.size === 0 ? undefined : redriven({ ...job, sends: job.sends.filter((send) => eligible.has(send.recipientKey)) });
      break;
    }
    default:
      copy = redriven(job);
  }
  if (copy === undefined) return refuse('no recipient of this job can be sent again safely', recipients);
  await deps.queue.enqueue([{ job: copy }]);
  const letter: LetterOutcome = (await deps.deadLetters.remove(entry.id)) ? 'removed' : 'kept';
  return { kind: 'redriven', id: entry.id, jobKind: job.kind, notificationId: job.notificationId, recipients, letter };
}

export interface RedriveAllResult {
  readonly notificationId: string;
  readonly redriven: number;
  /** Of the redriven, how many letters could not be removed and stay listed (see `LetterOutcome`). */
  readonly kept: number;
  readonly refused: number;
  readonly results: readonly Exclude<RedriveResult, { kind: 'not-found' }>[];
  /** Set when letters remain past what this call looked at: call again with it. */
  readonly continuationToken?: string;
}

/**
 * `POST /api/deadletters/redrive`: every letter of one notification, `limit` at a time. Refused
 * and kept letters stay parked; the continuation moves past them so a next call goes on with the
 * rest, and a letter seen once in a call is not redriven again in it.
 */
export async function redriveNotification(
  notificationId: string,
  options: { readonly limit: number; readonly continuationToken?: string },
  deps: RedriveDependencies,
): Promise<RedriveAllResult> {
  const results: Exclude<RedriveResult, { kind: 'not-found' }>[] = [];
  const seen = new Set<string>();
  let token = options.continuationToken;
  do {
    const page = await deps.deadLetters.list({ notificationId, limit: options.limit - results.length, ...(token !== undefined && { continuationToken: token }) });
    for (const entry of page.items) {
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      const result = await redriveEntry(entry, deps);
      if (result.kind !== 'not-found') results.push(result);
    }
    token = page.continuationToken;
  } while (token !== undefined && results.length < options.limit);
  return {
    notificationId,
    redriven: results.filter((r) => r.kind === 'redriven').length,
    kept: results.filter((r) => r.kind === 'redriven' && r.letter === 'kept').length,
    refused: results.filter((r) => r.kind === 'refused').length,
    results,
    ...(token !== undefined && { continuationToken: token }),
  };
}

/** Decides, and where it is safe resets, one recipient's row (under its ETag; re-read when it moved). */
async function reopen(notificationId: string, recipientKey: string, entry: DeadLetterEntry, deliveries: DeliveryStore): Promise<RecipientRedrive> {
  for (let round = 0; round < RESET_ROUNDS; round++) {
    const row = await deliveries.get(notificationId, recipientKey);
    if (row === undefined) return { recipientKey, action: 'left' };
    const seen = { recipientKey, status: row.status, ...(row.reason !== undefined && { reason: row.reason }) };
    if (row.status === 'pending') return { ...seen, action: 'requeued' };
    if (!failedBecauseOf(row, entry)) return { ...seen, action: 'left' };
    const reset = await reopenDelivery(deliveries, row);
    if (reset.kind === 'updated') return { ...seen, action: 'reset' };
  }
  // The row keeps changing under us: someone else is working on it, which is not ours to undo.
  return { recipientKey, action: 'left' };
}

/** Giving up on a job writes its row `failed` / `retries-exhausted` with the letter's description as the detail. */
function failedBecauseOf(row: DeliveryRecord, entry: DeadLetterEntry): boolean {
  return row.status === 'failed' && row.reason === 'retries-exhausted' && row.expandedTo === undefined && row.detail === entry.description;
}

/** The copy to enqueue: one more hop (a message id of its own), a fresh fault and retry budget, no stale row ETags. */
function redriven(job: Job): Job {
  const hop = (job.hop ?? 0) + 1;
  switch (job.kind) {
    case 'deliver': {
      const { etag: _etag, ...rest } = job;
      return { ...rest, hop, faults: 0, attempt: 0, throttled: 0 } satisfies DeliverJob;
    }
    case 'expand':
      return { ...job, hop, faults: 0, attempt: 0, throttled: 0 };
    case 'slice':
      return { ...job, hop, faults: 0, sends: job.sends.map(({ etag: _etag, ...send }) => send) } satisfies SliceJob;
    default:
      return { ...job, hop, faults: 0 };
  }
}
