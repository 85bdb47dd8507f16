import type { DeliveryRecord } from '../domain/notification';
import type { ConversationKind } from '../domain/reference';
import type { TargetRecipient } from '../domain/recipient';
import { isFanOut } from '../domain/recipient';
import type { ConversationStore } from '../stores/conversationStore';
import type { ConversationAddress } from '../teams/teamsSender';
import { resolveTarget } from '../delivery/resolveTarget';

/** A message Teams has: where to change or delete it. */
export interface SentMessage {
  readonly to: ConversationAddress;
  readonly activityId: string;
  readonly landsIn: ConversationKind;
}

/**
 * Where a delivered row's message is. Rows record the address they were sent through; a row sent
 * before they did is placed from the stored references (as the send was).
 */
export async function sentMessageOf(row: DeliveryRecord, conversations: ConversationStore): Promise<SentMessage | undefined> {
  if (row.activityId === undefined || row.conversationId === undefined) return undefined;
  let at = row.sentVia;
  let landsIn = row.landsIn;
  if (at === undefined || landsIn === undefined) {
    if (isFanOut(row.recipient)) return undefined;
    const resolved = await resolveTarget(row.recipient as TargetRecipient, conversations);
    if (resolved.kind !== 'conversation' && resolved.kind !== 'new-thread' && resolved.kind !== 'create-personal') return undefined;
    at ??= resolved.at;
    landsIn ??= resolved.kind === 'conversation' ? resolved.conversationKind : resolved.kind === 'new-thread' ? 'channel' : 'personal';
  }
  return { to: { ...at, conversationId: row.conversationId, conversationType: landsIn }, activityId: row.activityId, landsIn };
}
