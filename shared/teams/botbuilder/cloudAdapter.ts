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

/**
 * botbuilder's CloudAdapter from our settings. With no app id it neither checks incoming tokens nor
 * signs outgoing calls (local development against the Agents Playground); with `UserAssignedMSI`
 * it signs with the managed identity, so no password exists anywhere.
 */
export function createCloudAdapter(config: Pick<Config, 'botAppId' | 'botAppType' | 'botAppTenantId' | 'botAppPassword'>): TeamsCloudAdapter {
  const options: ConfigurationBotFrameworkAuthenticationOptions = {
    ...(config.botAppId !== undefined && { MicrosoftAppId: config.botAppId }),
    ...(config.botAppType !== undefined && { MicrosoftAppType: config.botAppType }),
    ...(config.botAppTenantId !== undefined && { MicrosoftAppTenantId: config.botAppTenantId }),
    ...(config.botAppPassword !== undefined && { MicrosoftAppPassword: config.botAppPassword }),
  };
  return new TeamsCloudAdapter(withoutConnectorRetries(new ConfigurationBotFrameworkAuthentication(options)));
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
 * botbuilder's connector client retries 408, 429 and 5xx itself, three times, out of sight. That
 * would hide the 429s our send budget must see, retry the 500s Teams says not to retry, and hold a
 * queue message through four attempts. Retrying is the delivery worker's job, so the connector
 * clients this authentication hands out make exactly one attempt.
 */
function withoutConnectorRetries(auth: BotFrameworkAuthentication): BotFrameworkAuthentication {
  return new Proxy(auth, {
    get(target, property, receiver) {
      if (property === 'createConnectorFactory') {
        return (...args: Parameters<BotFrameworkAuthentication['createConnectorFactory']>): ConnectorFactory => {
          const factory = target.createConnectorFactory(...args);
          return { create: async (serviceUrl: string, audience?: string) => singleAttempt(await factory.create(serviceUrl, audience)) };
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
