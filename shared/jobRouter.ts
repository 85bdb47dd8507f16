import type { WelcomeDelivery, WelcomeJobResult } from './bot/welcomeDelivery';
import type { DeliveryWorker, JobResult } from './delivery/deliveryWorker';
import { parseWelcomeJob } from './domain/welcomeJob';
import type { Logger } from './logger';
import type { JobQueue } from './queue/jobQueue';
import { bodyText } from './queue/faultRetry';

/**
 * The one queue handler: the delivery queue carries notification jobs and queued welcomes, which
 * share the tenants' budgets and so the same queue, pacing and retries. Welcomes go to the bot's
 * welcome delivery; everything else (poison included) to the delivery worker.
 */
export class JobRouter {
  constructor(
    private readonly worker: DeliveryWorker,
    private readonly welcomes: WelcomeDelivery,
    private readonly queue: JobQueue,
  ) {}

  async handle(body: unknown, log: Logger): Promise<JobResult | WelcomeJobResult> {
    const welcome = parseWelcomeJob(body);
    if (welcome === undefined) return this.worker.handle(body, log);
    if (welcome.ok) return this.welcomes.handle(welcome.job, log);
    await this.queue.deadLetter({ body: bodyText(body), reason: 'invalid-job', description: welcome.reason });
    log.error(`dead-lettered a poison job: ${welcome.reason}`, { jobKind: 'welcome', outcome: 'dead-lettered', reason: 'invalid-job' });
    return { kind: 'dead-lettered', reason: 'invalid-job', detail: welcome.reason };
  }

  /** The queue will not deliver this message again: see `DeliveryWorker.giveUp`. */
  async giveUp(body: unknown, reason: string, log: Logger): Promise<void> {
    const welcome = parseWelcomeJob(body);
    if (welcome?.ok === true) return this.welcomes.giveUp(welcome.job, bodyText(body), reason, log);
    if (welcome?.ok === false) {
      await this.queue.deadLetter({ body: bodyText(body), reason: 'max-delivery-count', description: reason });
      return;
    }
    return this.worker.giveUp(body, reason, log);
  }
}
