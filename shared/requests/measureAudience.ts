import { isFanOut, type DirectoryRecipient, type Recipient, type TargetRecipient } from '../domain/recipient';
import type { DirectoryPage, GraphFailure, GraphResult } from '../graph/graph';
import type { PacedGraph } from '../graph/pacedGraph';
import { mapLimit } from '../mapLimit';
import type { ConversationStore } from '../stores/conversationStore';
import { resolveTarget, type Reach } from '../delivery/resolveTarget';

/** Who one request entry would reach, as a dry run answers it. `null`: not known without sending. */
export interface EntryAudience {
  readonly index: number;
  readonly type: Recipient['type'];
  /** People reached (messages, for a channel, team or conversation); `null` when only the send can tell. */
  readonly total: number | null;
  /** With a stored reference the bot can send to now. */
  readonly known: number | null;
  /** To be installed through Graph first (proactive install). */
  readonly toInstall: number | null;
  /** Nobody can send to them: no reference, and no install possible (or they removed the app). */
  readonly unreachable: number | null;
  /** Where the numbers come from: the bot's references, or Graph (`$count`, then a listing when small enough). */
  readonly countedBy: 'references' | 'graph';
  readonly note?: string;
}

export interface Audience {
  /** The sum over entries: a person two entries reach is counted twice here, and sent one message. */
  readonly total: number;
  readonly known: number;
  readonly toInstall: number;
  readonly unreachable: number;
  /** False when some entry's numbers are not known before sending (see its note). */
  readonly exact: boolean;
  readonly entries: readonly EntryAudience[];
}

/**
 * Counting needed Graph, and Graph did not answer (503: throttled or down, worth a retry) or
 * refused (502: the app lacks a permission, which a retry will not mend). `detail` is for the log:
 * the HTTP answer says only what happened.
 */
export type Unavailable = { readonly kind: 'unavailable'; readonly status: 502 | 503; readonly detail: string; readonly retryAfterMs?: number };
export type Measured<T> = { readonly kind: 'measured'; readonly value: T } | Unavailable;

export interface AudienceDependencies {
  readonly conversations: ConversationStore;
  readonly graph: PacedGraph;
  /** Set when proactive install is on. */
  readonly reach: Reach | undefined;
  /** Lower-case allowed tenants; empty allows all. */
  readonly allowedTenants: readonly string[];
}

/** A group or organization this size or smaller is listed in a dry run, to split it into known, to install and unreachable. */
export const DRY_RUN_LISTING_LIMIT = 5_000;
/** References read at once while classifying. */
const CONCURRENCY = 16;
/** A Graph pause longer than this answers 503 rather than hold the HTTP request. */
const MAX_GRAPH_WAIT_MS = 5_000;

/**
 * What a request would reach, entry by entry, without sending, writing or enqueueing anything:
 * named targets are looked up in the references; all users and all teams are counted from them;
 * groups and the organization are counted through Graph (`$count`) and, when small enough, listed
 * and split by what the bot knows of each person.
 */
export async function measureAudience(recipients: readonly Recipient[], deps: AudienceDependencies): Promise<Measured<Audience>> {
  const entries: EntryAudience[] = [];
  const targets: { index: number; recipient: TargetRecipient }[] = [];
  for (const [index, recipient] of recipients.entries()) {
    if (isFanOut(recipient)) {
      const entry = await measureFanOut(index, recipient, deps, Number.POSITIVE_INFINITY);
      if (entry.kind === 'unavailable') return entry;
      entries.push(entry.value);
    } else {
      targets.push({ index, recipient });
    }
  }
  const placed = await mapLimit(targets, CONCURRENCY, async ({ index, recipient }) => ({ index, recipient, resolved: await resolveTarget(recipient, deps.conversations, deps.reach) }));
  for (const { index, recipient, resolved } of placed) {
    const kind = resolved.kind === 'unreachable' ? 'unreachable' : resolved.kind === 'install-personal' || resolved.kind === 'install-team' ? 'toInstall' : 'known';
    entries.push({
      index,
      type: recipient.type,
      total: 1,
      known: kind === 'known' ? 1 : 0,
      toInstall: kind === 'toInstall' ? 1 : 0,
      unreachable: kind === 'unreachable' ? 1 : 0,
      countedBy: 'references',
      ...(resolved.kind === 'unreachable' && { note: resolved.detail }),
    });
  }
  entries.sort((a, b) => a.index - b.index);
  const sum = (pick: (e: EntryAudience) => number | null): number => entries.reduce((n, e) => n + (pick(e) ?? 0), 0);
  return {
    kind: 'measured',
    value: {
      total: sum((e) => e.total),
      known: sum((e) => e.known),
      toInstall: sum((e) => e.toInstall),
      unreachable: sum((e) => e.unreachable),
      exact: entries.every((e) => e.total !== null && e.known !== null),
      entries,
    },
  };
}

/**
 * How many people the request's fan-out entries reach, for the guard on large audiences: counts
 * only, each stopped once past `limit` (nobody needs the exact size of a send that is refused).
 */
export async function fanOutAudience(recipients: readonly Recipient[], deps: AudienceDependencies, limit: number): Promise<Measured<number>> {
  let people = 0;
  for (const [index, recipient] of recipients.entries()) {
    if (!isFanOut(recipient)) continue;
    const entry = await measureFanOut(index, recipient, deps, limit + 1, 'count');
    if (entry.kind === 'unavailable') return entry;
    people += entry.value.total ?? 0;
  }
  return { kind: 'measured', value: people };
}

async function measureFanOut(
  index: number,
  recipient: Recipient & { type: 'allUsers' | 'allTeams' | 'teamMembers' | 'group' | 'organization' },
  deps: AudienceDependencies,
  stopAfter: number,
  depth: 'count' | 'split' = 'split',
): Promise<Measured<EntryAudience>> {
  const allowed = (tenantId: string): boolean => deps.allowedTenants.length === 0 || deps.allowedTenants.includes(tenantId.toLowerCase());
  switch (recipient.type) {
    case 'allUsers': {
      const known = await countReferences((token) => deps.conversations.listUsers(token, 1000), (u) => u.installed && u.hasPersonalApp === true && allowed(u.tenantId), stopAfter);
      return measured({ index, type: recipient.type, total: known, known, toInstall: 0, unreachable: 0, countedBy: 'references' });
    }
    case 'allTeams': {
      const known = await countReferences((token) => deps.conversations.listTeams(token, 1000), (t) => t.installed && allowed(t.tenantId), stopAfter);
      return measured({ index, type: recipient.type, total: known, known, toInstall: 0, unreachable: 0, countedBy: 'references', note: 'one post per team' });
    }
    case 'teamMembers': {
      const team = await deps.conversations.findTeam(recipient.teamId);
      if (team === undefined || !team.installed) {
        return measured({ index, type: recipient.type, total: 0, known: 0, toInstall: 0, unreachable: 0, countedBy: 'references', note: 'the app is not installed in this team' });
      }
      if (team.aadGroupId === undefined) {
        return measured({ index, type: recipient.type, total: null, known: null, toInstall: 0, unreachable: null, countedBy: 'references', note: "the team's roster comes from Teams when sent" });
      }
      // Team members can all be messaged through the team's roster: known, once counted.
      const count = await graphCall(deps.graph, team.tenantId, () => deps.graph.countGroupUsers(team.tenantId, team.aadGroupId as string));
      if (count.kind === 'not-found') return measured({ index, type: recipient.type, total: 0, known: 0, toInstall: 0, unreachable: 0, countedBy: 'graph', note: count.detail });
      if (count.kind === 'unavailable') return count;
      return measured({ index, type: recipient.type, total: count.value, known: count.value, toInstall: 0, unreachable: 0, countedBy: 'graph' });
    }
    case 'group':
    case 'organization':
      return measureDirectory(index, recipient, deps, depth);
  }
}

async function measureDirectory(index: number, recipient: DirectoryRecipient, deps: AudienceDependencies, depth: 'count' | 'split'): Promise<Measured<EntryAudience>> {
  const tenantId = recipient.tenantId;
  if (tenantId === undefined) return measured({ index, type: recipient.type, total: 0, known: 0, toInstall: 0, unreachable: 0, countedBy: 'graph', note: 'no tenant' });
  const { graph } = deps;
  const counted = await graphCall(graph, tenantId, () => (recipient.type === 'group' ? graph.countGroupUsers(tenantId, recipient.groupId) : graph.countOrganizationUsers(tenantId)));
  if (counted.kind === 'not-found') {
    return measured({ index, type: recipient.type, total: 0, known: 0, toInstall: 0, unreachable: 0, countedBy: 'graph', note: `no such group: ${counted.detail}` });
  }
  if (counted.kind === 'unavailable') return counted;
  const total = counted.value;
  const base = { index, type: recipient.type, total, countedBy: 'graph' } as const;
  if (depth === 'count') return measured({ ...base, known: null, toInstall: null, unreachable: null });
  if (total > DRY_RUN_LISTING_LIMIT) {
    return measured({ ...base, known: null, toInstall: null, unreachable: null, note: `more than ${DRY_RUN_LISTING_LIMIT} people: counted, not listed, in a dry run` });
  }
  const split = { known: 0, toInstall: 0, unreachable: 0 };
  let pageLink: string | undefined;
  do {
    const link = pageLink;
    const page = await graphCall<DirectoryPage>(graph, tenantId, () => (recipient.type === 'group' ? graph.groupUsers(tenantId, recipient.groupId, link) : graph.organizationUsers(tenantId, link)));
    if (page.kind === 'not-found') return measured({ ...base, total: 0, known: 0, toInstall: 0, unreachable: 0, note: `no such group: ${page.detail}` });
    if (page.kind === 'unavailable') return page;
    const kinds = await mapLimit(page.value.users, CONCURRENCY, async (user) => (await resolveTarget({ type: 'user', aadObjectId: user.id, tenantId }, deps.conversations, deps.reach)).kind);
    for (const kind of kinds) {
      if (kind === 'unreachable') split.unreachable += 1;
      else if (kind === 'install-personal') split.toInstall += 1;
      else split.known += 1;
    }
    pageLink = page.value.nextLink;
  } while (pageLink !== undefined);
  // Graph's $count is eventually consistent: the listing is what a send would reach now.
  return measured({ ...base, total: split.known + split.toInstall + split.unreachable, ...split });
}

async function countReferences<T>(
  page: (token: string | undefined) => Promise<{ items: readonly T[]; continuationToken?: string }>,
  counts: (item: T) => boolean,
  stopAfter: number,
): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const next = await page(token);
    n += next.items.filter(counts).length;
    token = next.continuationToken;
  } while (token !== undefined && n < stopAfter);
  return n;
}

/**
 * A Graph read for a request in flight: a long pause or a failure answers 503 rather than wait; no
 * such group is an answer of its own (an entry that reaches nobody).
 */
async function graphCall<T>(graph: PacedGraph, tenantId: string, call: () => Promise<GraphResult<T>>): Promise<Measured<T> | { readonly kind: 'not-found'; readonly detail: string }> {
  const paused = graph.pausedFor(tenantId);
  if (paused > MAX_GRAPH_WAIT_MS) return { kind: 'unavailable', status: 503, detail: 'Microsoft Graph asked this tenant to wait', retryAfterMs: paused };
  const result = await call();
  if (result.kind === 'ok') return { kind: 'measured', value: result.value };
  return result.kind === 'not-found' ? { kind: 'not-found', detail: result.detail } : unavailable(result);
}

function unavailable(failure: GraphFailure): Unavailable {
  const detail = `Microsoft Graph could not count the audience: ${failure.kind}: ${failure.detail}`;
  if (failure.kind === 'forbidden' || failure.kind === 'rejected') return { kind: 'unavailable', status: 502, detail };
  return failure.kind === 'throttled' && failure.retryAfterMs !== undefined ? { kind: 'unavailable', status: 503, detail, retryAfterMs: failure.retryAfterMs } : { kind: 'unavailable', status: 503, detail };
}

function measured<T>(value: T): Measured<T> {
  return { kind: 'measured', value };
}
