import type { DeadLetterEntry, DeadLetterQuery, DeadLetters } from '../queue/deadLetters';

/** A dead letter as `GET /api/deadletters` shows it: what and why, without the body. */
export type DeadLetterView = Omit<DeadLetterEntry, 'body'> & {
  /** The first (for deliver and expand, the only) recipient the job is about. */
  readonly recipientKey?: string;
};

export interface DeadLetterListing {
  readonly items: readonly DeadLetterView[];
  readonly continuationToken?: string;
}

export async function listDeadLetters(
  query: DeadLetterQuery,
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
