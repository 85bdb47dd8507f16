/**
 * The names operators chart and query: instruments, spans and their attributes. One table, so the
 * code, the tests and the README's Kusto queries cannot drift apart. Attribute names become
 * `customDimensions` keys in Application Insights.
 */

/** The instrumentation scope of every meter, tracer and logger of this app. */
export const INSTRUMENTATION_SCOPE = 'teams-notify';

export const ATTRIBUTE = {
  tenantId: 'teamsnotify.tenant_id',
  notificationId: 'teamsnotify.notification_id',
  jobKind: 'teamsnotify.job_kind',
  outcome: 'teamsnotify.outcome',
  reason: 'teamsnotify.reason',
  action: 'teamsnotify.action',
  operation: 'teamsnotify.operation',
  recipients: 'teamsnotify.recipients',
} as const;

export const METRIC = {
  delivered: 'teamsnotify.messages.delivered',
  failed: 'teamsnotify.messages.failed',
  skipped: 'teamsnotify.messages.skipped',
  throttled: 'teamsnotify.connector.throttled',
  amended: 'teamsnotify.messages.amended',
  sendDuration: 'teamsnotify.send.duration',
  deliveryLatency: 'teamsnotify.delivery.latency',
  backlog: 'teamsnotify.backlog',
  tenantRate: 'teamsnotify.tenant.rate',
} as const;

export const SPAN = {
  accept: 'notification.accept',
  plan: 'notification.plan',
  slice: 'notification.slice',
  deliver: 'notification.deliver',
  job: 'notification.job',
} as const;

/**
 * The tenant dimension when a recipient failed before its tenant was known (a user id that no
 * stored reference matches). Never empty: an empty dimension reads as missing data in a chart.
 */
export const UNKNOWN_TENANT = 'unknown';
