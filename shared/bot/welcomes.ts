import type { WelcomeAddress, WelcomeContent, WelcomeSend } from '../domain/welcomeJob';
import type { Logger } from '../logger';
import { WelcomeSender, type WelcomeDependencies } from './welcomeSender';

/** A welcome the bot decided on: one per installation, keyed by `key`. */
export interface WelcomeRequest {
  readonly key: string;
  readonly to: WelcomeAddress;
  readonly welcome: WelcomeContent;
}

/** The bot's side of welcomes (a port, so the handler stays free of pacing and queues). */
export interface Welcomer {
  /** Resolves once the welcome is sent, or safely queued; nothing for an installation already welcomed. */
  welcome(request: WelcomeRequest, log: Logger): Promise<void>;
}

/**
 * A welcome whose send time is at most this far off goes out inline, in the install's turn; a
 * later one (an org-wide install queues thousands behind each other) is queued for its time.
 */
export const INLINE_WELCOME_MS = 1_000;

/** Deferred welcomes asked for within this long are enqueued together: one queue call, jobs of a second each. */
const BATCH_MS = 20;

interface PendingBatch {
  readonly sends: WelcomeSend[];
  readonly waiters: { resolve(): void; reject(error: unknown): void }[];
}

/**
 * Welcomes take tokens from the tenant's budget like notifications: each gets a send time on the
 * tenant's shared timeline. Inline when that time is near; otherwise queued as a `welcome` job
 * scheduled for it, which the worker sends like a slice (paced, 429 and transient retries).
 *
 * The welcome store's claim is the idempotency guard: only the first install activity of an
 * installation gets a claim, and every send (inline, queued, retried) first leases the claimed row
 * with its ETag, so a redelivered job or a duplicate copy sends nothing. Windows: a crash after
 * Teams accepted a welcome and before the row says `sent` sends it again once the lease runs out
 * (as for notifications); a crash between the claim and the enqueue (a few ms, before any send)
 * loses that welcome, since its row says it is taken.
 */
export class Welcomes implements Welcomer {
  private readonly sender: WelcomeSender;
  private readonly pending = new Map<string, PendingBatch>();

  constructor(private readonly deps: WelcomeDependencies) {
    this.sender = new WelcomeSender(deps);
  }

  async welcome(request: WelcomeRequest, log: Logger): Promise<void> {
    const { welcomes, pacer, budget, options } = this.deps;
    const claimId = await welcomes.open(request.key);
    if (claimId === undefined) return;
    const tenantId = request.to.tenantId;
    const progress = { sent: false };
    try {
      const at = await pacer.reserveOne(tenantId, Date.now());
      const send: WelcomeSend = { key: request.key, claimId, to: request.to, welcome: request.welcome, at, attempt: 0, throttled: 0, hop: 0 };
      const waitMs = (await pacer.dueAt(tenantId, at)) - Date.now();
      if (waitMs <= INLINE_WELCOME_MS && budget.pausedFor(tenantId) === 0) {
        const lease = await welcomes.lease(request.key, claimId, options.leaseMs);
        // Only an uninstall in the meantime takes it away; then there is nobody to welcome.
        if (lease.kind !== 'leased') return;
        const result = await this.sender.attempt(send, log, progress);
        log.log(`${request.to.conversationType} welcome: ${result.kind}`, { jobKind: 'welcome', outcome: result.kind, tenantId, recipient: request.to.conversationId });
        return;
      }
      await this.defer(send);
      log.log(`${request.to.conversationType} welcome queued for ${Math.round(waitMs)} ms from now`, { jobKind: 'welcome', outcome: 'queued', tenantId, recipient: request.to.conversationId });
    } catch (error) {
      // Neither sent nor queued: free the claim, so that Teams' redelivery of the failed turn welcomes.
      if (!progress.sent) await welcomes.release(request.key).catch(() => undefined);
      throw error;
    }
  }

  /** Resolves once the welcome's job is in the queue. */
  private defer(send: WelcomeSend): Promise<void> {
    const tenantId = send.to.tenantId;
    return new Promise<void>((resolve, reject) => {
      let batch = this.pending.get(tenantId);
      if (batch === undefined) {
        const created: PendingBatch = { sends: [], waiters: [] };
        this.pending.set(tenantId, created);
        batch = created;
        setTimeout(() => void this.flush(tenantId, created), BATCH_MS);
      }
      batch.sends.push(send);
      batch.waiters.push({ resolve, reject });
    });
  }

  private async flush(tenantId: string, batch: PendingBatch): Promise<void> {
    this.pending.delete(tenantId);
    try {
      await this.sender.schedule(batch.sends);
      for (const waiter of batch.waiters) waiter.resolve();
    } catch (error) {
      for (const waiter of batch.waiters) waiter.reject(error);
    }
  }
}
