/**
 * The port to Microsoft Graph: the few calls that reach people the bot has never seen. Installing
 * the app for a user or in a team, finding the chat or channel to post in, and listing (or
 * counting) the users of a group or of the whole organization.
 *
 * Every call names the tenant: Graph serves one tenant per token, and pacing and 429s are per
 * tenant. Adapters never throw for a Graph answer: they classify it into a `GraphFailure`.
 */
export interface Graph {
  /** Installs the org-catalog app in the user's personal scope (`POST /users/{id}/teamwork/installedApps`); 409 is `already-installed`. */
  installForUser(tenantId: string, userId: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>>;
  /**
   * The 1:1 chat between the user and the app: the installation found by the catalog id
   * (`GET .../installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{catalogAppId}'`), then
   * `GET .../installedApps/{installationId}/chat`.
   */
  personalChatId(tenantId: string, userId: string, catalogAppId: string): Promise<GraphResult<string>>;
  /** Installs the app in a team (`POST /teams/{groupId}/installedApps`); 409 is `already-installed`. */
  installInTeam(tenantId: string, groupId: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>>;
  /** The team's General channel (`GET /teams/{groupId}/primaryChannel`): its id is the team's id for the Bot Framework. */
  primaryChannel(tenantId: string, groupId: string): Promise<GraphResult<Channel>>;
  /** One page of a group's transitive user members; `pageLink` is the previous page's `@odata.nextLink`. */
  groupUsers(tenantId: string, groupId: string, pageLink?: string): Promise<GraphResult<DirectoryPage>>;
  /** One page of the tenant's enabled member users (no guests); `pageLink` as above. */
  organizationUsers(tenantId: string, pageLink?: string): Promise<GraphResult<DirectoryPage>>;
  /** `$count` of a group's transitive user members. */
  countGroupUsers(tenantId: string, groupId: string): Promise<GraphResult<number>>;
  /** `$count` of the tenant's enabled member users. */
  countOrganizationUsers(tenantId: string): Promise<GraphResult<number>>;
}

export type InstallOutcome = 'installed' | 'already-installed';

export interface Channel {
  readonly id: string;
  readonly displayName?: string;
}

/** A user as a directory listing gives them: the Entra object id is the one id Graph and Teams share. */
export interface DirectoryUser {
  readonly id: string;
  readonly displayName?: string;
}

export interface DirectoryPage {
  readonly users: readonly DirectoryUser[];
  /** The next page's full URL (`@odata.nextLink`), absent on the last page. */
  readonly nextLink?: string;
}

/** What a Graph call that did not succeed came to, named by what the caller does next. */
export type GraphFailure =
  /** 429, or 503 with Retry-After: wait, and pace the tenant's Graph calls for everyone. */
  | { readonly kind: 'throttled'; readonly retryAfterMs?: number; readonly detail: string }
  /** Other 5xx, timeouts, network errors: retry with backoff. */
  | { readonly kind: 'transient'; readonly detail: string }
  /** 403: the app lacks the permission, or the tenant's admin has not consented. `code` is Graph's error code. */
  | { readonly kind: 'forbidden'; readonly code: string; readonly detail: string }
  /** 404: no such user, group or team. */
  | { readonly kind: 'not-found'; readonly code: string; readonly detail: string }
  /** Any other 4xx: retrying the same request cannot help. */
  | { readonly kind: 'rejected'; readonly detail: string };

export type GraphResult<T> = { readonly kind: 'ok'; readonly value: T } | GraphFailure;
