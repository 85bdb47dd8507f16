import type { Job } from '../domain/job';
import type { DeadLetterEntry, DeadLetters } from '../queue/deadLetters';

/** A dead letter as `GET /api/deadletters` shows it: what and why, without the body. */
export interface DeadLetterView {
  readonly id: string;
  readonly reason: string;
  readonly description: string;
  readonly deadLetteredAt: string;
  readonly notificationId?: string;
  readonly jobKind?: Job['kind'];
  /** The first (for deliver and expand, the only) recipient the job is about. */
  readonly recipientKey?: string;
  readonly recipientKeys: readonly string[];
}

export interface DeadLetterListing {
  readonly items: readonly DeadLetterView[];
  readonly continuationToken?: string;
}

export async function listDeadLetters(
  query: { readonly notificationId?: string; readonly limit: number; readonly continuationToken?: string },
  deps: { readonly deadLetters: DeadLetters },
): Promise<DeadLetterListing> {
  const page = await deps.deadLetters.list(query);
  return { items: page.items.map(deadLetterView), ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
}

export function deadLetterView(entry: DeadLetterEntry): DeadLetterView {
  return {
    id: entry.id,
    reason: entry.reason,
    description: entry.description,
    deadLetteredAt: entry.deadLetteredAt,
    ...(entry.notificationId !== undefined && { notificationId: entry.notificationId }),
    ...(entry.jobKind !== undefined && { jobKind: entry.jobKind }),
    ...(entry.recipientKeys[0] !== undefined && { recipientKey: entry.recipientKeys[0] }),
    recipientKeys: entry.recipientKeys,
  };
}
