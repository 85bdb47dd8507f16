import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/core-auth';
import type { Recipient } from '../domain/recipient';
import { isStatus } from './tables';

/**
 * A large request's recipient entries (up to 10,000, about 1 MiB), kept apart from the
 * notification record: that is a table entity (64 KiB per property) and read by every worker, and
 * a queue message holds 64 KiB (Azure Storage) or 256 KB (Service Bus Standard). A blob holds it
 * in one write, so accepting costs the same whatever the audience.
 */
export interface RecipientListStore {
  /** Stores the entries; storing them again (a retried request) writes the same content. */
  save(notificationId: string, recipients: readonly Recipient[]): Promise<void>;
  load(notificationId: string): Promise<readonly Recipient[] | undefined>;
  delete(notificationId: string): Promise<void>;
  ensureCreated(): Promise<void>;
}

export type BlobAccess =
  | { readonly kind: 'connectionString'; readonly connectionString: string; readonly prefix?: string }
  | { readonly kind: 'identity'; readonly endpoint: string; readonly credential: TokenCredential; readonly prefix?: string };

export class BlobRecipientListStore implements RecipientListStore {
  private readonly container: ContainerClient;
  private ensured: Promise<void> | undefined;

  constructor(access: BlobAccess) {
    const service =
      access.kind === 'connectionString' ? BlobServiceClient.fromConnectionString(access.connectionString) : new BlobServiceClient(access.endpoint, access.credential);
    // Container names are lower case; the table prefix keeps deployments sharing an account apart.
    this.container = service.getContainerClient(`${(access.prefix ?? '').toLowerCase()}notification-recipients`);
  }

  ensureCreated(): Promise<void> {
    this.ensured ??= this.container.createIfNotExists().then(
      () => undefined,
      (error: unknown) => {
        this.ensured = undefined;
        throw error;
      },
    );
    return this.ensured;
  }

  async save(notificationId: string, recipients: readonly Recipient[]): Promise<void> {
    const body = JSON.stringify(recipients);
    await this.container.getBlockBlobClient(blobName(notificationId)).upload(body, Buffer.byteLength(body), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
  }

  async load(notificationId: string): Promise<readonly Recipient[] | undefined> {
    try {
      const buffer = await this.container.getBlockBlobClient(blobName(notificationId)).downloadToBuffer();
      return JSON.parse(buffer.toString('utf8')) as Recipient[];
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async delete(notificationId: string): Promise<void> {
    await this.container.getBlockBlobClient(blobName(notificationId)).deleteIfExists();
  }
}

function blobName(notificationId: string): string {
  return `${notificationId}.json`;
}
