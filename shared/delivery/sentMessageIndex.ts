import type { Logger } from '../logger';
import type { ReadReceiptStore, SentToChat } from '../stores/readReceiptStore';

/**
 * Collects the personal-chat messages a job sends and indexes them for read receipts when the job
 * ends, a batch per tenant and month: a slice's fifty sends cost one table write, not fifty.
 *
 * The index is best effort, as it was with a write per send: a process that dies between a send
 * and the end of its job leaves those messages unindexed, so they never get `readAt`; the delivery
 * itself is settled before and is not affected. A receipt that arrives before the job ends (the
 * second or so of a slice) finds nothing; the next receipt in that chat finds it.
 */
export class SentMessageIndex {
  private pending: SentToChat[] = [];

  constructor(private readonly store: ReadReceiptStore) {}

  /** Remembers a message sent, once its row says delivered. */
  add(sent: SentToChat): void {
    this.pending.push(sent);
  }

  /** Writes what was collected, from every job of this process that has ended or not. */
  async flush(log: Logger): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    await this.store.recordSent(batch).catch((error: unknown) => log.warn('could not index sent messages for read receipts', { count: batch.length, error }));
  }
}
