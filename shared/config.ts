import { z } from 'zod';
import { isLoopbackUrl } from './http/loopback';

/**
 * Every setting teams-notify reads, in one place. Names follow what Azure and botbuilder already
 * use where one exists (`MicrosoftAppId`, `ServiceBusConnection__fullyQualifiedNamespace`), so the
 * Bicep app settings, `local.settings.json` and this file say the same thing.
 */
export const SETTINGS = {
  /** Azurite or any storage account by connection string (local, or `func start`). */
  storageConnectionString: 'STORAGE_CONNECTION_STRING',
  /** Table endpoint used with a managed identity in Azure, e.g. https://acct.table.core.windows.net. */
  tableEndpoint: 'STORAGE_TABLE_ENDPOINT',
  /** Blob endpoint used with a managed identity, for large requests' recipient lists. */
  blobEndpoint: 'STORAGE_BLOB_ENDPOINT',
  /** Prefix for table names, so several deployments can share one account. */
  tablePrefix: 'TABLE_PREFIX',
  /** `servicebus` (Azure) or `storage-queue` (local default: Azurite). */
  queueTransport: 'QUEUE_TRANSPORT',
  /** Service Bus namespace host name for identity-based connections (same name the trigger binding reads). */
  serviceBusNamespace: 'ServiceBusConnection__fullyQualifiedNamespace',
  /** Service Bus connection string (local `func start` against a real namespace, or the test peer). */
  serviceBusConnectionString: 'ServiceBusConnection',
  /** Client id of the user-assigned managed identity (DefaultAzureCredential reads it). */
  managedIdentityClientId: 'AZURE_CLIENT_ID',
  botAppId: 'MicrosoftAppId',
  botAppType: 'MicrosoftAppType',
  botAppTenantId: 'MicrosoftAppTenantId',
  botAppPassword: 'MicrosoftAppPassword',
  /**
   * botbuilder's own setting: the OpenID metadata document that channel tokens are checked against
   * (default: login.botframework.com's). Loopback only: it exists for a test stand-in.
   */
  botOpenIdMetadata: 'BotOpenIdMetadata',
  /** Comma-separated host patterns (`*.` prefix for subdomains) a conversation's serviceUrl must be on; replaces Teams' defaults. */
  teamsServiceUrlHosts: 'TEAMS_SERVICE_URL_HOSTS',
  /** Comma-separated tenant ids; when set, other tenants are refused. */
  allowedTenants: 'ALLOWED_TENANT_IDS',
  /** Bot Connector requests per second per tenant, for this process. */
  sendRatePerSecond: 'SEND_RATE_PER_SECOND',
  /** Send attempts per recipient for transient failures before `retries-exhausted`. */
  maxAttempts: 'MAX_DELIVERY_ATTEMPTS',
  /** The delivery queue's maxDeliveryCount: on the last delivery a failing job is settled, not lost. */
  maxDeliveryCount: 'QUEUE_MAX_DELIVERY_COUNT',
  welcomePersonalText: 'WELCOME_PERSONAL_TEXT',
  welcomeTeamText: 'WELCOME_TEAM_TEXT',
  /** The one name people see: the manifest's short name, the bot's display name, welcome, help and card footer. */
  appName: 'APP_NAME',
  /** Microsoft Graph's root: the national cloud's, or a loopback stand-in (which needs no token). */
  graphEndpoint: 'GRAPH_ENDPOINT',
  /** `true`: users and teams without the app get it installed through Graph before delivery. */
  graphProactiveInstall: 'GRAPH_PROACTIVE_INSTALL',
  /** The app's id in the organization's app catalog (not the manifest id): what Graph installs. */
  teamsAppCatalogId: 'TEAMS_APP_CATALOG_ID',
  /** Graph requests per second per tenant, for this process. */
  graphRatePerSecond: 'GRAPH_RATE_PER_SECOND',
  /** Fan-out entries reaching more people than this need `maxAudience` in the request. */
  audienceGuard: 'AUDIENCE_GUARD',
  /** The HMAC-SHA256 key callbacks are signed with (`X-Signature-256`); without it, `callbackUrl` is refused. Key Vault in Azure. */
  callbackSigningKey: 'CALLBACK_SIGNING_KEY',
  /** Days a finished notification is kept (from its creation, or its sendAt when later); then the hourly purge deletes it with all its rows. */
  retentionDays: 'RETENTION_DAYS',
  /** The furthest ahead a request's `sendAt` may be, in days; further is a 400. */
  sendAtHorizonDays: 'SEND_AT_HORIZON_DAYS',
  /** How the local host writes log lines: `text` (default) or `json` (one JSON object a line). */
  logFormat: 'LOG_FORMAT',
} as const;

/**
 * Names read only when the current one is unset, so a deployment whose app settings predate a
 * rename keeps working until its infrastructure is deployed again. Nothing sets them any more.
 */
export const DEPRECATED_SETTINGS = {
  /** Before APP_NAME; the Bicep has set APP_NAME since. */
  appName: 'APP_DISPLAY_NAME',
} as const satisfies Partial<Record<keyof typeof SETTINGS, string>>;

/**
 * The name when APP_NAME is unset: also the bot's name in the local Playground, so `npm start`
 * shows one name everywhere.
 */
export const DEFAULT_APP_NAME = 'Teams Notify';

export const DEFAULT_GRAPH_ENDPOINT = 'https://graph.microsoft.com';

const intFrom = (fallback: number, min: number, max: number) =>
  z.preprocess((v) => (v === undefined || v === '' ? fallback : Number(v)), z.number().int().min(min).max(max));

const configSchema = z.object({
  storageConnectionString: z.string().optional(),
  tableEndpoint: z.url().optional(),
  blobEndpoint: z.url().optional(),
  tablePrefix: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,20}$/).optional(),
  queueTransport: z.enum(['servicebus', 'storage-queue']).default('storage-queue'),
  serviceBusNamespace: z.string().optional(),
  serviceBusConnectionString: z.string().optional(),
  managedIdentityClientId: z.string().optional(),
  botAppId: z.string().optional(),
  botAppType: z.enum(['UserAssignedMSI', 'SingleTenant', 'MultiTenant']).optional(),
  botAppTenantId: z.string().optional(),
  botAppPassword: z.string().optional(),
  allowedTenants: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0)),
  botOpenIdMetadata: z
    .url({ protocol: /^https?$/ })
    .optional()
    .refine((v) => v === undefined || isLoopbackUrl(v), 'must be a loopback URL (a test stand-in for login.botframework.com)'),
  teamsServiceUrlHosts: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? undefined : v.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0)))
    .refine((v) => v === undefined || (v.length > 0 && v.every((h) => /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(h))), 'host names or *.domain patterns, comma-separated'),
  sendRatePerSecond: intFrom(50, 1, 1000),
  maxAttempts: intFrom(6, 1, 50),
  maxDeliveryCount: intFrom(10, 1, 2000),
  welcomePersonalText: z.string().optional(),
  welcomeTeamText: z.string().optional(),
  // The manifest's short name allows 30 characters; a longer name would differ from what Teams shows.
  appName: z.string().trim().min(1).max(30).default(DEFAULT_APP_NAME),
  graphEndpoint: z
    .url({ protocol: /^https?$/ })
    .default(DEFAULT_GRAPH_ENDPOINT)
    .transform((v) => v.replace(/\/+$/, '')),
  graphProactiveInstall: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  teamsAppCatalogId: z.string().trim().min(1).optional(),
  graphRatePerSecond: intFrom(10, 1, 1000),
  audienceGuard: intFrom(10_000, 1, 10_000_000),
  // At least 32 characters: an HMAC key shorter than its hash's output weakens it.
  callbackSigningKey: z.string().min(32, 'must be at least 32 characters').optional(),
  retentionDays: intFrom(30, 1, 3650),
  sendAtHorizonDays: intFrom(30, 1, 3650),
  logFormat: z.enum(['text', 'json']).default('text'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and checks the settings; an unusable combination fails at start, not at the first message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const read = (name: string | undefined) => (name === undefined || env[name] === '' ? undefined : env[name]);
  const raw = Object.fromEntries(
    Object.entries(SETTINGS).map(([key, name]) => [key, read(name) ?? read((DEPRECATED_SETTINGS as Partial<Record<string, string>>)[key])]),
  );
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path[0] as keyof typeof SETTINGS | undefined;
    throw new ConfigError(`setting ${key ? SETTINGS[key] : '?'}: ${issue?.message ?? 'invalid'}`);
  }
  const config = parsed.data;
  if (config.storageConnectionString === undefined && config.tableEndpoint === undefined) {
    throw new ConfigError(`set ${SETTINGS.storageConnectionString} (local) or ${SETTINGS.tableEndpoint} (managed identity)`);
  }
  if (config.storageConnectionString === undefined && config.blobEndpoint === undefined) {
    throw new ConfigError(`${SETTINGS.tableEndpoint} (managed identity) needs ${SETTINGS.blobEndpoint} too: large requests keep their recipients in a blob`);
  }
  if (config.queueTransport === 'servicebus' && config.serviceBusNamespace === undefined && config.serviceBusConnectionString === undefined) {
    throw new ConfigError(`${SETTINGS.queueTransport}=servicebus needs ${SETTINGS.serviceBusNamespace} or ${SETTINGS.serviceBusConnectionString}`);
  }
  // In Azure (the Functions host sets WEBSITE_INSTANCE_ID) an unset app id would accept unsigned
  // activities from anyone: refuse to start rather than run an open bot endpoint.
  if (env.WEBSITE_INSTANCE_ID !== undefined && env.WEBSITE_INSTANCE_ID !== '' && config.botAppId === undefined) {
    throw new ConfigError(`${SETTINGS.botAppId} must be set in Azure: without it the bot endpoint would accept unauthenticated activities`);
  }
  if (config.graphProactiveInstall && config.teamsAppCatalogId === undefined) {
    throw new ConfigError(`${SETTINGS.graphProactiveInstall}=true needs ${SETTINGS.teamsAppCatalogId}: the app's id in your org's app catalog`);
  }
  if (new URL(config.graphEndpoint).protocol === 'http:' && !isLoopbackUrl(config.graphEndpoint)) {
    throw new ConfigError(`${SETTINGS.graphEndpoint} must be https (plain http only to a loopback stand-in)`);
  }
  if (config.queueTransport === 'storage-queue' && config.storageConnectionString === undefined) {
    throw new ConfigError(`${SETTINGS.queueTransport}=storage-queue needs ${SETTINGS.storageConnectionString}`);
  }
  return config;
}

/** True on Azure Functions (the host sets WEBSITE_INSTANCE_ID): loopback callbacks and open bot endpoints are refused there. */
export function runsInAzure(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.WEBSITE_INSTANCE_ID !== undefined && env.WEBSITE_INSTANCE_ID !== '';
}

/**
 * The tenant for a request entry that names none (a group, the organization, a user or team to
 * install for): the only allowed tenant, or else the bot's own (single-tenant and managed-identity
 * bots live in one). Undefined when several tenants are allowed: the entry must say.
 */
export function defaultTenantId(config: Pick<Config, 'allowedTenants' | 'botAppTenantId'>): string | undefined {
  if (config.allowedTenants.length > 1) return undefined;
  return config.allowedTenants[0] ?? config.botAppTenantId?.toLowerCase();
}
