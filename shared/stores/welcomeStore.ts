import type { TableClient } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

/**
 * Where a welcome stands. `queued`: claimed, not sent yet (waiting for its time inline, or in a
 * job); `sending`: someone holds it until `leaseUntil`; `sent` and `failed` are final.
 */
export type WelcomeStatus = 'queued' | 'sending' | 'sent' | 'failed';

/** Taking a claimed welcome to send it now: yours, someone else's for a while, or nothing left to send. */
export type WelcomeLease = { readonly kind: 'leased' } | { readonly kind: 'held'; readonly untilMs: number } | { readonly kind: 'done'; readonly why: string };

export type WelcomeEnd = { readonly status: 'sent'; readonly activityId: string } | { readonly status: 'failed'; readonly reason: string; readonly detail: string };

/**
 * One welcome per installation: a row per installation, created once (the claim, which is the
 * idempotency guard for every copy and retry of the welcome), removed on uninstall.
 */
export interface WelcomeStore {
  /** True for the first caller only, however many times Teams delivers the install activities. */
  claim(key: string): Promise<boolean>;
  /** As `claim`, with the claim's id: queued welcomes name it, so a job from an earlier install sends nothing. */
  open(key: string): Promise<string | undefined>;
  /** Takes the welcome to send it now, for `leaseMs` (ETag): only one holder sends. */
  lease(key: string, claimId: string, leaseMs: number): Promise<WelcomeLease>;
  /** Gives a leased welcome back unsent: a retry job carries it now. */
  handBack(key: string, claimId: string): Promise<void>;
  /** Records how the welcome ended; the row stays, so the installation is not welcomed again. */
  finish(key: string, claimId: string, end: WelcomeEnd): Promise<void>;
  /**
   * Marks the installation welcomed by something else (the first notification after a proactive
   * install says why it came): the install activity Teams sends then welcomes nobody. True if this
   * call created the mark, false if the installation already had a welcome or a mark.
   */
  cover(key: string, by: string): Promise<boolean>;
  release(key: string): Promise<void>;
}

interface WelcomeEntity {
  partitionKey: string;
  rowKey: string;
  welcomedAt: string;
  claimId?: string;
  status?: WelcomeStatus;
  leaseUntil?: string;
  activityId?: string;
  reason?: string;
  detail?: string;
  etag?: string;
}

/** How often a write that lost an ETag race reads the row again. */
const MAX_ROUNDS = 3;

export class TableWelcomeStore implements WelcomeStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('welcomes');
  }

  async claim(key: string): Promise<boolean> {
    return (await this.open(key)) !== undefined;
  }

  async open(key: string): Promise<string | undefined> {
    const claimId = randomUUID();
    try {
      await this.table.createEntity<WelcomeEntity>({ partitionKey: tableKey(key), rowKey: '', welcomedAt: new Date().toISOString(), claimId, status: 'queued' });
      return claimId;
    } catch (error) {
      if (isStatus(error, 409)) return undefined;
      throw error;
    }
  }

  async lease(key: string, claimId: string, leaseMs: number): Promise<WelcomeLease> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.read(key);
      if (row === undefined) return { kind: 'done', why: 'the app was removed since' };
      // Rows from before claim ids (welcomed inline in the turn) are done too.
      if (row.claimId !== claimId) return { kind: 'done', why: 'a newer installation has its own welcome' };
      if (row.status === 'sent' || row.status === 'failed') return { kind: 'done', why: `already ${row.status}` };
      const leaseUntil = row.leaseUntil ? Date.parse(row.leaseUntil) : 0;
      if (row.status === 'sending' && leaseUntil > Date.now()) return { kind: 'held', untilMs: leaseUntil };
      if (await this.write(row, { status: 'sending', leaseUntil: new Date(Date.now() + leaseMs).toISOString() })) return { kind: 'leased' };
    }
    return { kind: 'held', untilMs: Date.now() + 1000 };
  }

  async cover(key: string, by: string): Promise<boolean> {
    try {
      await this.table.createEntity<WelcomeEntity>({ partitionKey: tableKey(key), rowKey: '', welcomedAt: new Date().toISOString(), status: 'sent', detail: by.slice(0, 1000) });
      return true;
    } catch (error) {
      if (isStatus(error, 409)) return false;
      throw error;
    }
  }

  async handBack(key: string, claimId: string): Promise<void> {
    await this.change(key, claimId, { status: 'queued', leaseUntil: '' });
  }

  async finish(key: string, claimId: string, end: WelcomeEnd): Promise<void> {
    await this.change(key, claimId, end.status === 'sent' ? { status: 'sent', leaseUntil: '', activityId: end.activityId } : { status: 'failed', leaseUntil: '', reason: end.reason, detail: end.detail.slice(0, 1000) });
  }

  async release(key: string): Promise<void> {
    try {
      await this.table.deleteEntity(tableKey(key), '');
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }

  /** Writes the change on this claim's row, re-reading after a lost ETag race; gone or re-claimed rows are left alone. */
  private async change(key: string, claimId: string, change: Partial<WelcomeEntity>): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.read(key);
      if (row === undefined || row.claimId !== claimId) return;
      if (await this.write(row, change)) return;
    }
    throw new Error(`the welcome row ${key} kept changing`);
  }

  private async read(key: string): Promise<WelcomeEntity | undefined> {
    return getEntityOrUndefined<WelcomeEntity>(this.table, tableKey(key), '');
  }

  /** False when another writer changed the row first (412) or removed it (404). */
  private async write(row: WelcomeEntity, change: Partial<WelcomeEntity>): Promise<boolean> {
    try {
      await this.table.updateEntity({ partitionKey: row.partitionKey, rowKey: row.rowKey, ...change }, 'Merge', { etag: row.etag ?? '*' });
      return true;
    } catch (error) {
      if (isStatus(error, 412) || isStatus(error, 404)) return false;
      throw error;
    }
  }
}
