/**
 * What one send attempt to the Bot Connector came to, named by what the worker must do next.
 * Mapped from the connector's status and error code by `classifySendFailure`.
 */
export type SendOutcome =
  | { readonly kind: 'delivered'; readonly activityId: string; readonly conversationId: string }
  /** 429: wait Retry-After (or back off), slow every sender for the tenant; does not spend a retry. */
  | { readonly kind: 'throttled'; readonly retryAfterMs?: number; readonly detail: string }
  /** 412, 502, 503, 504, timeouts, network errors: retry with exponential backoff. */
  | { readonly kind: 'transient'; readonly detail: string }
  /** 403 BotNotInConversationRoster, ForbiddenOperationException (or no code): the app is not in this conversation. */
  | { readonly kind: 'not-installed'; readonly scope?: 'conversation'; readonly detail: string }
  /**
   * 403 BotDisabledByAdmin: an admin disabled the app, so it is closed in every conversation of the
   * team, not in one channel. Recorded as `not-installed` like the other.
   */
  | { readonly kind: 'not-installed'; readonly scope: 'app'; readonly detail: string }
  /** 403 ConversationBlockedByUser / MessageWritesBlocked. */
  | { readonly kind: 'blocked-by-user'; readonly detail: string }
  /** 404 ConversationNotFound. */
  | { readonly kind: 'conversation-not-found'; readonly detail: string }
  /** 400, 413, and 500 (Teams documents 500 as do-not-retry). */
  | { readonly kind: 'rejected'; readonly detail: string };

export type SendFailure = Exclude<SendOutcome, { kind: 'delivered' }>;

/** Why a recipient ended failed or skipped: the contract's reasons. */
export type FailureReason =
  | 'not-installed'
  | 'blocked-by-user'
  | 'conversation-not-found'
  | 'rejected'
  | 'expired'
  | 'retries-exhausted'
  | 'opted-out'
  | 'cancelled'
  | 'tenant-not-allowed'
  | 'not-enqueued'
  | 'invalid-job'
  /** Graph refused to install the app (403: no permission or no admin consent); `detail` has Graph's code. */
  | 'install-not-permitted'
  /** Graph knows no such user (404). */
  | 'user-not-found'
  /** Graph knows no such team, or the group is not a team (404). */
  | 'team-not-found'
  /** Graph refused to list a group's or the organization's users (403: no permission or consent). */
  | 'graph-not-permitted'
  /** Graph knows no such group (404). */
  | 'group-not-found'
  /** The request's `maxAudience` was reached before this recipient: not sent. */
  | 'audience-exceeded'
  /** The stored reference's serviceUrl is not on Teams' hosts (`TEAMS_SERVICE_URL_HOSTS`): nothing was sent there. */
  | 'untrusted-service-url';

/**
 * The code a connector call fails with when its serviceUrl is not Teams' (the adapter's guard
 * refuses it before any request): permanent, like a 400, and nothing reached anyone.
 */
export const UNTRUSTED_SERVICE_URL_CODE = 'UntrustedServiceUrl';

/** The 403 code of an app a tenant admin disabled (TEAMS-FACTS, "Responses"). */
const APP_DISABLED_CODE = 'BotDisabledByAdmin';

/**
 * Where a recipient's delivery ends up; `pending` is the only state a send may still change.
 * `recalled`: delivered, then deleted from Teams by `POST .../recall`.
 */
export type RecipientStatus = 'pending' | 'delivered' | 'failed' | 'skipped' | 'recalled';

/** Classifies a connector error response into what the worker does next (TEAMS-FACTS, "Responses"). */
export function classifySendFailure(failure: {
  readonly statusCode?: number;
  readonly code?: string;
  readonly retryAfterMs?: number;
  readonly message: string;
}): SendFailure {
  const { statusCode, code } = failure;
  const detail = [statusCode, code, failure.message].filter((x) => x !== undefined && x !== '').join(' ');
  if (code === UNTRUSTED_SERVICE_URL_CODE) return { kind: 'rejected', detail };
  if (statusCode === undefined) return { kind: 'transient', detail };
  if (statusCode === 429) {
    return failure.retryAfterMs !== undefined ? { kind: 'throttled', retryAfterMs: failure.retryAfterMs, detail } : { kind: 'throttled', detail };
  }
  if (statusCode === 403) {
    if (code === 'ConversationBlockedByUser' || code === 'MessageWritesBlocked') return { kind: 'blocked-by-user', detail };
    return code === APP_DISABLED_CODE ? { kind: 'not-installed', scope: 'app', detail } : { kind: 'not-installed', detail };
  }
  if (statusCode === 404) return { kind: 'conversation-not-found', detail };
  if (statusCode === 408 || statusCode === 412 || statusCode === 502 || statusCode === 503 || statusCode === 504) {
    return { kind: 'transient', detail };
  }
  return { kind: 'rejected', detail };
}
