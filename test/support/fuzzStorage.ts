import { TableClient, TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';

/** How much one suite holds in Azurite: entities per table, messages per queue, blobs per container. */
export type StorageCounts = Readonly<Record<string, number>>;

/**
 * Counts everything a suite's pipeline can write: every table and blob container whose name starts
 * with its prefix (including ones added after this was written), and its queues.
 */
export class StorageCensus {
  private readonly tables: TableServiceClient;
  private readonly blobs: BlobServiceClient;

  constructor(
    private readonly connectionString: string,
    private readonly prefix: string,
    private readonly queues: readonly QueueClient[],
  ) {
    const options = { allowInsecureConnection: true };
    this.tables = TableServiceClient.fromConnectionString(connectionString, options);
    this.blobs = BlobServiceClient.fromConnectionString(connectionString);
  }

  async count(): Promise<StorageCounts> {
    const counts: Record<string, number> = {};
    const lower = this.prefix.toLowerCase();
    for await (const table of this.tables.listTables()) {
      const name = table.name ?? '';
      if (!name.toLowerCase().startsWith(lower)) continue;
      const client = TableClient.fromConnectionString(this.connectionString, name, { allowInsecureConnection: true });
      let n = 0;
      for await (const page of client.listEntities({ queryOptions: { select: ['RowKey'] } }).byPage({ maxPageSize: 1000 })) n += page.length;
      counts[`table:${name}`] = n;
    }
    for (const queue of this.queues) counts[`queue:${queue.name}`] = (await queue.getProperties()).approximateMessagesCount ?? 0;
    for await (const container of this.blobs.listContainers({ prefix: lower })) {
      let n = 0;
      for await (const page of this.blobs.getContainerClient(container.name).listBlobsFlat().byPage({ maxPageSize: 1000 })) n += page.segment.blobItems.length;
      counts[`blobs:${container.name}`] = n;
    }
    return counts;
  }
}

/** What changed between two censuses, as `name: before → after`; empty when nothing did. */
export function censusChanges(before: StorageCounts, after: StorageCounts): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => (before[name] ?? 0) !== (after[name] ?? 0)).map((name) => `${name}: ${before[name] ?? 0} → ${after[name] ?? 0}`);
}
