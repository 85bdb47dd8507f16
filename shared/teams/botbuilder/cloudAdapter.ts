import {
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  type Activity,
  type ConfigurationBotFrameworkAuthenticationOptions,
  type InvokeResponse,
  type TurnContext,
} from 'botbuilder';
import type { BotFrameworkAuthentication, ConnectorClient, ConnectorFactory } from 'botframework-connector';
import type { Config } from '../../config';
import { UNTRUSTED_SERVICE_URL_CODE } from '../../domain/outcome';
import { serviceUrlTrustFrom, type ServiceUrlTrust } from '../trustedServiceUrl';

/**
 * botbuilder's CloudAdapter from our settings. With no app id it neither checks incoming tokens nor
 * signs outgoing calls (local development against the Agents Playground); with `UserAssignedMSI`
 * it signs with the managed identity, so no password exists anywhere.
 */
export function createCloudAdapter(
  config: Pick<Config, 'botAppId' | 'botAppType' | 'botAppTenantId' | 'botAppPassword'> & Partial<Pick<Config, 'botOpenIdMetadata' | 'teamsServiceUrlHosts'>>,
): TeamsCloudAdapter {
  const options: ConfigurationBotFrameworkAuthenticationOptions = {
    ...(config.botAppId !== undefined && { MicrosoftAppId: config.botAppId }),
    ...(config.botAppType !== undefined && { MicrosoftAppType: config.botAppType }),
    ...(config.botAppTenantId !== undefined && { MicrosoftAppTenantId: config.botAppTenantId }),
    ...(config.botAppPassword !== undefined && { MicrosoftAppPassword: config.botAppPassword }),
    ...(config.botOpenIdMetadata !== undefined && { BotOpenIdMetadata: config.botOpenIdMetadata }),
  };
  return new TeamsCloudAdapter(guardedConnectors(new ConfigurationBotFrameworkAuthentication(options), serviceUrlTrustFrom(config)));
}

/**
 * CloudAdapter with its turn entry point open to the bot endpoint. `CloudAdapter.process` writes
 * every failure (a bad token from a scanner, a storage outage in the turn) to `console.error` as
 * a multi-line dump with the request inside; the endpoint calls this instead and logs one line.
 */
export class TeamsCloudAdapter extends CloudAdapter {
  /** Authenticates the request (when an app id is set) and runs `logic` in a turn. */
  runTurn(authHeader: string, activity: Activity, logic: (context: TurnContext) => Promise<void>): Promise<InvokeResponse | undefined> {
    return this.processActivity(authHeader, activity, logic);
  }
}

/**
 * The connector clients this authentication hands out:
 * - make exactly one attempt. botbuilder's client retries 408, 429 and 5xx itself, three times, out
 *   of sight. That would hide the 429s our send budget must see, retry the 500s Teams says not to
 *   retry, and hold a queue message through four attempts. Retrying is the delivery worker's job.
 * - never send to a serviceUrl outside Teams' hosts (`ServiceUrlTrust`): the request would carry the
 *   bot's token. This is the last line, under every sender (notifications, welcomes, edits, replies);
 *   the core refuses such references earlier, with a reason of its own.
 */
function guardedConnectors(auth: BotFrameworkAuthentication, trust: ServiceUrlTrust): BotFrameworkAuthentication {
  return new Proxy(auth, {
    get(target, property, receiver) {
      if (property === 'createConnectorFactory') {
        return (...args: Parameters<BotFrameworkAuthentication['createConnectorFactory']>): ConnectorFactory => {
          const factory = target.createConnectorFactory(...args);
          return { create: async (serviceUrl: string, audience?: string) => refuseUntrusted(singleAttempt(await factory.create(serviceUrl, audience)), trust) };
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function singleAttempt(client: ConnectorClient): ConnectorClient {
  // ConnectorClient wraps an @azure/core-client ServiceClient (botbuilder-stdlib's compat layer).
  const pipeline = (client as unknown as { client?: { pipeline?: { removePolicy(options: { name: string }): unknown } } }).client?.pipeline;
  if (pipeline === undefined) throw new Error('botbuilder ConnectorClient has no core-client pipeline: cannot turn off its hidden retries');
  pipeline.removePolicy({ name: 'defaultRetryPolicy' });
  return client;
}

/**
 * Fails every request of a client whose serviceUrl is not trusted, before it leaves the process.
 * The check is per request, not at creation: botbuilder builds a client for each incoming turn
 * before the bot decides anything, and the bot answers a foreign serviceUrl itself (403).
 */
function refuseUntrusted(client: ConnectorClient, trust: ServiceUrlTrust): ConnectorClient {
  const pipeline = (client as unknown as { client?: { pipeline?: { addPolicy(policy: { name: string; sendRequest(request: { url: string }, next: (request: { url: string }) => Promise<unknown>): Promise<unknown> }): void } } }).client?.pipeline;
  if (pipeline === undefined) throw new Error('botbuilder ConnectorClient has no core-client pipeline: cannot guard its serviceUrl');
  pipeline.addPolicy({
    name: 'teamsServiceUrlGuard',
    sendRequest(request, next) {
      const refusal = trust.refusal(request.url);
      if (refusal !== undefined) return Promise.reject(Object.assign(new Error(`not sent: ${refusal}`), { code: UNTRUSTED_SERVICE_URL_CODE }));
      return next(request);
    },
  });
  return client;
}
