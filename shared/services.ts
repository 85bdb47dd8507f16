import { ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { TeamsActivityHandler } from './bot/activityHandler';
import type { BotEndpoint } from './bot/botEndpoint';
import { TimelineReplyPacing } from './bot/replyPacing';
import { WelcomeDelivery } from './bot/welcomeDelivery';
import type { WelcomeDependencies } from './bot/welcomeSender';
import { Welcomes } from './bot/welcomes';
import { JobRouter } from './jobRouter';
import { defaultTenantId, loadConfig, runsInAzure, type Config } from './config';
import { HttpCallbackSender } from './callbacks/callbackSender';
import { HttpGraph } from './graph/httpGraph';
import { PacedGraph } from './graph/pacedGraph';
import { isLoopbackUrl } from './http/loopback';
import { ProactiveInstall } from './delivery/proactiveInstall';
import { TEAMS_GLOBAL_SERVICE_URL, type Reach } from './delivery/resolveTarget';
import { acceptNotification, type AcceptResult } from './requests/acceptNotification';
import { DEFAULT_DELIVERY_OPTIONS, DeliveryWorker, type DeliveryOptions } from './delivery/deliveryWorker';
import { SendBudget } from './delivery/sendBudget';
import type { NotificationRequest } from './domain/notificationRequest';
import type { Logger } from './logger';
import { processLogger } from './telemetry/functionLogger';
import type { JobQueue } from './queue/jobQueue';
import { hasDeadLetters, type DeadLetters } from './queue/deadLetters';
import { ServiceBusJobQueue } from './queue/serviceBusJobQueue';
import { StorageQueueJobQueue } from './queue/storageQueueJobQueue';
import { TableConversationStore, type ConversationStore } from './stores/conversationStore';
import { TableDeliveryStore, type DeliveryStore } from './stores/deliveryStore';
import { TableNotificationStore, type NotificationStore } from './stores/notificationStore';
import { TableOptOutStore, type OptOutStore } from './stores/optOutStore';
import { Tables } from './stores/tables';
import { TableWelcomeStore, type WelcomeStore } from './stores/welcomeStore';
import { TableReadReceiptStore, type ReadReceiptStore } from './stores/readReceiptStore';
import { SentMessageIndex } from './delivery/sentMessageIndex';
import { BlobRecipientListStore, type RecipientListStore } from './stores/recipientListStore';
import { TableTimelineStore } from './stores/timelineStore';
import { TenantPacer } from './pacing/tenantPacer';
import { DEFAULT_PACING_POLICY } from './pacing/tenantTimeline';
import { BotbuilderBotEndpoint } from './teams/botbuilder/botbuilderBotEndpoint';
import { BotbuilderTeamsSender } from './teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from './teams/botbuilder/cloudAdapter';
import { serviceUrlTrustFrom } from './teams/trustedServiceUrl';
import type { TeamsSender } from './teams/teamsSender';
import { DeliveryMetrics } from './telemetry/deliveryMetrics';
import { MeasuredTeamsSender } from './telemetry/measuredTeamsSender';
import { TracedJobQueue } from './telemetry/tracedJobQueue';
import { ATTRIBUTE, SPAN } from './telemetry/names';
import { inSpan } from './telemetry/tracing';

/** Everything the function handlers use, wired once per process from the settings. */
export interface Services {
  readonly config: Config;
  readonly tables: Tables;
  readonly queue: JobQueue;
  /** The queue's dead letters, for `GET /api/deadletters` and their redrive. */
  readonly deadLetters: DeadLetters;
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly conversations: ConversationStore;
  readonly optOuts: OptOutStore;
  readonly welcomes: WelcomeStore;
  readonly recipientLists: RecipientListStore;
  /** The read-receipt index (the retention purge forgets a purged notification's messages in it). */
  readonly receipts: ReadReceiptStore;
  readonly pacer: TenantPacer;
  readonly sender: TeamsSender;
  /** The pipeline's instruments (no-ops without an OpenTelemetry SDK). */
  readonly metrics: DeliveryMetrics;
  /** Microsoft Graph (GRAPH_ENDPOINT), paced per tenant. */
  readonly graph: PacedGraph;
  /** Set when proactive install is on: how people the bot has not seen are reached. */
  readonly reach: Reach | undefined;
  readonly worker: DeliveryWorker;
  /** The queue handler: notification jobs to the worker, queued welcomes to the bot's welcome delivery. */
  readonly jobs: JobRouter;
  readonly bot: BotEndpoint;
  accept(request: NotificationRequest, idempotencyKey: string | undefined): Promise<AcceptResult>;
  /** Creates tables and queues that do not exist yet. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  readonly sender?: TeamsSender;
  readonly queue?: JobQueue;
  readonly deadLetters?: DeadLetters;
  readonly delivery?: Partial<DeliveryOptions>;
  readonly log?: Logger;
}

/** One token: with the rate below the limit (headroom), no sliding second can see more than the limit. */
const SEND_BUDGET_BURST = 1;

export function createServices(config: Config = loadConfig(), overrides: ServiceOverrides = {}): Services {
  // Lines of no function (the bot endpoint's): Application Insights when configured, else the console.
  const log = overrides.log ?? processLogger;
  const credential =
    config.tableEndpoint !== undefined || config.serviceBusNamespace !== undefined
      ? new DefaultAzureCredential(config.managedIdentityClientId !== undefined ? { managedIdentityClientId: config.managedIdentityClientId } : {})
      : undefined;

  const tables = new Tables(
    config.storageConnectionString !== undefined
      ? { kind: 'connectionString', connectionString: config.storageConnectionString, ...(config.tablePrefix !== undefined && { prefix: config.tablePrefix }) }
      : { kind: 'identity', endpoint: config.tableEndpoint as string, credential: credential as DefaultAzureCredential, ...(config.tablePrefix !== undefined && { prefix: config.tablePrefix }) },
  );
  const transport = overrides.queue ?? createQueue(config, credential);
  const deadLetters = overrides.deadLetters ?? deadLettersOf(transport);
  // Every job carries the trace of the span that enqueued it (the accept, a plan page, a slice).
  const queue = new TracedJobQueue(transport);
  // Made after startTelemetry (the entry points call it first): a meter taken before stays a no-op.
  const metrics = new DeliveryMetrics();
  const notifications = new TableNotificationStore(tables);
  const deliveries = new TableDeliveryStore(tables);
  const conversations = new TableConversationStore(tables);
  const optOuts = new TableOptOutStore(tables);
  const welcomes = new TableWelcomeStore(tables);
  // A receipt looks back as far as anything is kept (a day more, for a message sent at the edge).
  const receipts = new TableReadReceiptStore(tables, { lookbackDays: config.retentionDays + 1 });
  const recipientLists = new BlobRecipientListStore(
    config.storageConnectionString !== undefined
      ? { kind: 'connectionString', connectionString: config.storageConnectionString, ...(config.tablePrefix !== undefined && { prefix: config.tablePrefix }) }
      : { kind: 'identity', endpoint: config.blobEndpoint as string, credential: credential as DefaultAzureCredential, ...(config.tablePrefix !== undefined && { prefix: config.tablePrefix }) },
  );
  const pacer = new TenantPacer(new TableTimelineStore(tables), { ...DEFAULT_PACING_POLICY, maxRate: config.sendRatePerSecond });
  metrics.observeTenants(() => pacer.readings());
  const adapter = createCloudAdapter(config);
  // Every Bot Connector call is measured (duration, outcome, 429s), whoever makes it.
  const sender = new MeasuredTeamsSender(overrides.sender ?? new BotbuilderTeamsSender(adapter, { botAppId: config.botAppId ?? '' }), metrics);
  const options: DeliveryOptions = {
    ...DEFAULT_DELIVERY_OPTIONS,
    maxAttempts: config.maxAttempts,
    maxFaults: config.maxDeliveryCount,
    allowedTenants: config.allowedTenants,
    appName: config.appName,
    ...overrides.delivery,
  };
  // One budget per process: notifications, welcomes and replies all spend the same tenant tokens.
  const budget = new SendBudget(config.sendRatePerSecond, undefined, SEND_BUDGET_BURST);
  // Graph gets the app's own identity, the one the Teams manifest names (webApplicationInfo.id, which
  // Graph's "Self" install permissions check): the managed identity, or a SingleTenant bot's app
  // registration. A loopback stand-in (local runs, tests) needs no token.
  const graphCredential = isLoopbackUrl(config.graphEndpoint)
    ? undefined
    : config.botAppType === 'SingleTenant' && config.botAppId !== undefined && config.botAppPassword !== undefined && config.botAppTenantId !== undefined
      ? new ClientSecretCredential(config.botAppTenantId, config.botAppId, config.botAppPassword)
      : (credential ?? new DefaultAzureCredential(config.managedIdentityClientId !== undefined ? { managedIdentityClientId: config.managedIdentityClientId } : {}));
  const graph = new PacedGraph(
    new HttpGraph({ endpoint: config.graphEndpoint, ...(graphCredential !== undefined && { credential: graphCredential }) }),
    new SendBudget(config.graphRatePerSecond, undefined, SEND_BUDGET_BURST),
  );
  const tenant = defaultTenantId(config);
  const reach: Reach | undefined = config.graphProactiveInstall
    ? {
        ...(tenant !== undefined && { defaultTenantId: tenant }),
        fallback: { serviceUrl: TEAMS_GLOBAL_SERVICE_URL, botId: config.botAppId !== undefined ? `28:${config.botAppId}` : 'bot' },
      }
    : undefined;
  const install =
    reach !== undefined && config.teamsAppCatalogId !== undefined
      ? { installer: new ProactiveInstall({ graph, conversations, welcomes, catalogAppId: config.teamsAppCatalogId }), reach }
      : undefined;
  // Callbacks are signed with CALLBACK_SIGNING_KEY; without it, requests with a callbackUrl are refused.
  const callbacks =
    config.callbackSigningKey !== undefined ? new HttpCallbackSender({ signingKey: config.callbackSigningKey, allowLoopback: !runsInAzure() }) : undefined;
  // Conversation references are stored and called only on Teams' hosts (loopback too without an app id).
  const serviceUrls = serviceUrlTrustFrom(config);
  const worker = new DeliveryWorker({
    notifications,
    deliveries,
    conversations,
    optOuts,
    queue,
    sender,
    budget,
    pacer,
    recipientLists,
    sentMessages: new SentMessageIndex(receipts),
    graph,
    ...(install !== undefined && { install }),
    ...(callbacks !== undefined && { callbacks }),
    serviceUrls,
    metrics,
    options,
  });
  const settings = {
    appName: config.appName,
    ...(config.welcomePersonalText !== undefined && { welcomePersonalText: config.welcomePersonalText }),
    ...(config.welcomeTeamText !== undefined && { welcomeTeamText: config.welcomeTeamText }),
  };
  const welcoming: WelcomeDependencies = { welcomes, sender, pacer, budget, queue, settings, options };
  const handler = new TeamsActivityHandler({
    conversations,
    optOuts,
    receipts,
    deliveries,
    welcomes,
    welcomer: new Welcomes(welcoming),
    allowedTenants: config.allowedTenants,
    serviceUrls,
    settings,
    log,
  });
  const bot = new BotbuilderBotEndpoint(adapter, handler, log, new TimelineReplyPacing(pacer, budget));
  const jobs = new JobRouter(worker, new WelcomeDelivery(welcoming), queue);
  let ready: Promise<void> | undefined;

  return {
    config,
    tables,
    queue,
    deadLetters,
    notifications,
    deliveries,
    conversations,
    optOuts,
    welcomes,
    recipientLists,
    receipts,
    pacer,
    sender,
    metrics,
    graph,
    reach,
    worker,
    jobs,
    bot,
    // The span every job of the notification continues: its plan, slices and deliveries.
    accept: (request, idempotencyKey) =>
      inSpan(SPAN.accept, { [ATTRIBUTE.recipients]: request.recipients.length }, async (span) => {
        const result = await acceptNotification(request, idempotencyKey, { notifications, deliveries, queue, recipientLists });
        span.setAttributes(result.kind === 'accepted' ? { [ATTRIBUTE.notificationId]: result.id, [ATTRIBUTE.outcome]: result.replayed ? 'replayed' : result.status } : { [ATTRIBUTE.outcome]: result.kind });
        return result;
      }),
    ready() {
      ready ??= Promise.all([tables.ensureCreated(), queue.ensureCreated(), recipientLists.ensureCreated()]).then(
        () => undefined,
        (error: unknown) => {
          ready = undefined;
          throw error;
        },
      );
      return ready;
    },
    close: () => queue.close(),
  };
}

function createQueue(config: Config, credential: DefaultAzureCredential | undefined): JobQueue {
  if (config.queueTransport === 'storage-queue') return new StorageQueueJobQueue(config.storageConnectionString as string);
  return ServiceBusJobQueue.fromSettings({
    ...(config.serviceBusConnectionString !== undefined && { connectionString: config.serviceBusConnectionString }),
    ...(config.serviceBusNamespace !== undefined && { fullyQualifiedNamespace: config.serviceBusNamespace }),
    ...(credential !== undefined && { credential }),
  });
}

/**
 * The queue's own dead letters. A queue given without them (a test's wrapper) must come with
 * `overrides.deadLetters`: an empty stand-in would have the API answer that nothing is parked.
 */
function deadLettersOf(queue: JobQueue): DeadLetters {
  if (hasDeadLetters(queue)) return queue.deadLetterStore();
  throw new Error('the queue has no dead letters of its own (deadLetterStore()): pass overrides.deadLetters with it');
}

let shared: Services | undefined;

/** The process-wide services, created on first use (the Functions host loads handlers before settings matter). */
export function services(): Services {
  shared ??= createServices();
  return shared;
}

/** For hosts and tests that build their own: makes `services()` return these. */
export function useServices(value: Services | undefined): void {
  shared = value;
}
