import type { Job } from '../domain/job';
import type { JobResult } from '../delivery/settlement';
import type { LogFields } from '../logger';

/**
 * What every line logged while a job runs carries: the notification, the job's kind, and where
 * one job is one recipient, that recipient (hashed when written); a slice's tenant and size.
 */
export function jobLogFields(job: Job): LogFields {
  const base = { notificationId: job.notificationId, jobKind: job.kind };
  switch (job.kind) {
    case 'deliver':
    case 'expand':
      return { ...base, recipient: job.recipientKey };
    case 'slice':
      return { ...base, tenantId: job.tenantId, count: job.sends.length };
    case 'amendSlice':
      return { ...base, tenantId: job.tenantId, count: job.items.length };
    default:
      return base;
  }
}

/**
 * A job in a few words for a log line's message, without what `jobLogFields` carries (ids go into
 * fields, and a recipient key names a person): `plan from entry 0`, `edit pass 1 page 0`, ...
 */
export function jobSummary(job: Job): string {
  switch (job.kind) {
    case 'deliver':
    case 'expand':
      return job.kind;
    case 'plan':
      return `plan from entry ${job.offset}`;
    case 'slice':
      return `slice ${job.sliceId}`;
    case 'amend':
      return `${job.action} pass ${job.pass} page ${job.page}`;
    case 'amendSlice':
      return `${job.action} slice ${job.sliceId}`;
    case 'retry':
      return `retry the failed (round ${job.round}, page ${job.page})`;
    case 'watch':
      return 'watch for its end';
    case 'callback':
      // Not the event's id: a recipient.failed event's id holds the recipient's key.
      return `callback ${job.event.type} (attempt ${job.attempt + 1})`;
    case 'cancel':
      return job.offset !== undefined ? `cancel: entries from ${job.offset}` : `cancel pass ${job.pass} page ${job.page}`;
  }
}

/** How a job ended, as fields: `outcome` is the result's kind; `reason` why it failed, was skipped or parked (a callback: how it went). */
export function resultLogFields(result: JobResult): LogFields {
  switch (result.kind) {
    case 'failed':
    case 'skipped':
    case 'dead-lettered':
      return { outcome: result.kind, reason: result.reason };
    case 'callback':
      return { outcome: result.kind, reason: result.outcome };
    case 'sliced':
      return { outcome: result.kind, count: result.sends };
    case 'planned':
    case 'expanded':
      return { outcome: result.kind, count: result.recipients };
    default:
      return { outcome: result.kind };
  }
}
