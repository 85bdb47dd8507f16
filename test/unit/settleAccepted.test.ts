/**
 * A message Teams accepted is recorded as delivered even through a storage outage, as long as the
 * claim keeps other copies of the job from sending; past the claim the error goes up, and the host
 * says which recipient may be sent twice.
 */
import type { DeliveryRecord } from '../../shared/domain/notification';
import { hashId } from '../../shared/logger';
import { jsonLine, lineLogSink } from '../../shared/telemetry/logLines';
import { sinkLogger } from '../../shared/telemetry/sinkLogger';
import { DEFAULT_DELIVERY_OPTIONS, Settlement, type JobResult } from '../../shared/delivery/settlement';
import type { JobQueue } from '../../shared/queue/jobQueue';
import { DeliveryMetrics } from '../../shared/telemetry/deliveryMetrics';
import type { ConditionalUpdate, DeliveryChange, DeliveryStore } from '../../shared/stores/deliveryStore';

const DELIVERED: JobResult = { kind: 'delivered', activityId: 'act-1', conversationId: 'a:chat-1' };
const CHANGE: DeliveryChange = { status: 'delivered', activityId: 'act-1', conversationId: 'a:chat-1', attempts: 1 };

function claimedRow(claimMs: number): DeliveryRecord {
  return {
    notificationId: 'n1',
    recipientKey: 'user:aad:one',
    recipient: { type: 'user', aadObjectId: 'one' },
    status: 'pending',
    attempts: 0,
    updatedAt: new Date().toISOString(),
    leaseUntil: new Date(Date.now() + claimMs).toISOString(),
    etag: 'e1',
  };
}

/** Table Storage that refuses the first `failures` writes (connection refused), then takes them. */
function flakyDeliveries(failures: number): { store: DeliveryStore; writes: DeliveryChange[] } {
  const writes: DeliveryChange[] = [];
  let refused = 0;
  const store: Pick<DeliveryStore, 'update' | 'get'> = {
    update: (row, change): Promise<ConditionalUpdate> => {
      if (refused < failures) {
        refused += 1;
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:10002'), { code: 'ECONNREFUSED' }));
      }
      writes.push(change);
      return Promise.resolve({ kind: 'updated', row: { ...row, ...change, etag: 'e2' } as DeliveryRecord });
    },
    get: () => Promise.resolve(undefined),
  };
  return { store: store as DeliveryStore, writes };
}

function settlement(store: DeliveryStore): Settlement {
  return new Settlement({ deliveries: store, queue: {} as JobQueue, options: DEFAULT_DELIVERY_OPTIONS, metrics: new DeliveryMetrics() });
}

describe('recording a message Teams accepted', () => {
  it('tries the delivered write again while storage is away and the claim holds', async () => {
    const { store, writes } = flakyDeliveries(2);
    const warnings: string[] = [];
    const log = sinkLogger((record) => record.level !== 'info' && warnings.push(jsonLine(record)));
    await expect(settlement(store).settleAccepted(claimedRow(30_000), CHANGE, DELIVERED, log)).resolves.toEqual(DELIVERED);
    expect(writes).toEqual([{ ...CHANGE, leaseUntil: '' }]);
    expect(warnings).toHaveLength(2);
    expect(JSON.parse(warnings[0] ?? '')).toMatchObject({ message: 'could not record the recipient as delivered; trying again while the claim holds', recipientHash: hashId('one'), error: expect.stringContaining('ECONNREFUSED') });
    expect(warnings.join('\n')).not.toContain('user:aad:one');
  });

  it('gives up when the claim runs out, and says the recipient may be sent again', async () => {
    const { store, writes } = flakyDeliveries(Infinity);
    const errors: string[] = [];
    const log = sinkLogger(lineLogSink('text', (level, line) => level === 'error' && errors.push(line)));
    const began = Date.now();
    await expect(settlement(store).settleAccepted(claimedRow(1_200), CHANGE, DELIVERED, log)).rejects.toThrow('ECONNREFUSED');
    expect(Date.now() - began).toBeLessThan(1_500);
    expect(writes).toEqual([]);
    // The line names the recipient by hash only: the operator hashes the person's id to find it.
    expect(errors).toEqual([expect.stringMatching(new RegExp(`^Teams accepted the message but it could not be recorded as delivered before the claim ran out; .* recipientHash=${hashId('one')} error=`))]);
  });
});
