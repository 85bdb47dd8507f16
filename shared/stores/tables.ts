import { TableClient, type TableEntityResult } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { RestError } from '@azure/core-rest-pipeline';
import { createHash } from 'node:crypto';

/** The tables teams-notify keeps; created at start when missing. */
export const TABLE_NAMES = {
  notifications: 'notifications',
  deliveries: 'deliveries',
  conversations: 'conversations',
  idempotency: 'idempotency',
  optOuts: 'optouts',
  welcomes: 'welcomes',
  pacing: 'pacing',
  slices: 'slices',
  sentMessages: 'sentmessages',
} as const;

export type TableName = keyof typeof TABLE_NAMES;

/** A partition no row is ever written to: the health probe reads it (and finds nothing). */
const HEALTH_PROBE_PARTITION = '~health-probe';

export type TableAccess =
  | { readonly kind: 'connectionString'; readonly connectionString: string; readonly prefix?: string }
  | { readonly kind: 'identity'; readonly endpoint: string; readonly credential: TokenCredential; readonly prefix?: string };

/** Hands out one TableClient per table and creates the tables once per process. */
export class Tables {
  private readonly clients = new Map<TableName, TableClient>();
  private ensured: Promise<void> | undefined;

  constructor(private readonly access: TableAccess) {}

  client(table: TableName): TableClient {
    let client = this.clients.get(table);
    if (client === undefined) {
      const name = `${this.access.prefix ?? ''}${TABLE_NAMES[table]}`;
      client =
        this.access.kind === 'connectionString'
          ? TableClient.fromConnectionString(this.access.connectionString, name, {
              allowInsecureConnection: isLoopback(this.access.connectionString),
            })
          : new TableClient(this.access.endpoint, name, this.access.credential);
      this.clients.set(table, client);
    }
    return client;
  }

  /** Creates every table that does not exist yet; safe to call from many instances at once. */
  ensureCreated(): Promise<void> {
    this.ensured ??= Promise.all(
      (Object.keys(TABLE_NAMES) as TableName[]).map((t) => this.client(t).createTable()),
    ).then(
      () => undefined,
      (error: unknown) => {
        this.ensured = undefined;
        throw error;
      },
    );
    return this.ensured;
  }

  /**
   * One cheap round trip, for the health endpoint: a query for a partition that never exists, which
   * answers an empty page. It is Query Entities, which the app's role (Storage Table Data
   * Contributor, or even Reader) allows; Get Table ACL, used before, needs the account key. A missing
   * table, a refused identity or an unreachable account still throw.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    const pages = this.client('notifications')
      .listEntities({ queryOptions: { filter: `PartitionKey eq '${HEALTH_PROBE_PARTITION}'`, select: ['PartitionKey'] }, ...(signal !== undefined && { abortSignal: signal }) })
      .byPage({ maxPageSize: 1 });
    await pages.next();
  }
}

function isLoopback(connectionString: string): boolean {
  return /UseDevelopmentStorage=true|https?:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(connectionString);
}

/** Longest value kept readable (base64url) in a key; longer ones are hashed to stay under 1 KiB. */
const MAX_ENCODED_KEY_INPUT = 600;

/**
 * Table keys may not hold / \ # ? or control characters, and Teams ids hold ':' '@' ';' and,
 * in conversation ids, sometimes '/'. Percent-encoding is not an option: the Table service decodes
 * '%' in keys a second time on some operations. base64url uses only safe characters, and keys of
 * long values (a channel reply names three ids of up to 512 characters) become a SHA-256.
 * Every entity also stores its raw values as properties, so nothing is lost.
 */
export function tableKey(value: string): string {
  return value.length <= MAX_ENCODED_KEY_INPUT
    ? `b${Buffer.from(value, 'utf8').toString('base64url')}`
    : `h${createHash('sha256').update(value, 'utf8').digest('base64url')}`;
}

/** Drops undefined fields: the Tables SDK would otherwise store them as explicit nulls. */
export function definedFields<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** True for an SDK error with this HTTP status. By shape: each storage SDK may bundle its own copy of RestError. */
export function isStatus(error: unknown, status: number): boolean {
  return (error instanceof RestError || (error instanceof Error && error.name === 'RestError')) && (error as RestError).statusCode === status;
}

/** Reads one entity, or undefined when it does not exist. */
export async function getEntityOrUndefined<T extends object>(
  client: TableClient,
  partitionKey: string,
  rowKey: string,
): Promise<TableEntityResult<T> | undefined> {
  try {
    return await client.getEntity<T>(partitionKey, rowKey);
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}
