import {
  CallerIdConstants,
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  type Activity,
  type ConfigurationBotFrameworkAuthenticationOptions,
  type InvokeResponse,
  type TurnContext,
} from 'botbuilder';
import {
  AuthenticationConstants,
  AuthenticationError,
  type BotFrameworkAuthentication,
  type ConnectorClient,
  type ConnectorFactory,
} from 'botframework-connector';
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
    ...(config.botOpenIdMetadata !== undefined && publicCloudWithMetadata(config.botOpenIdMetadata)),
  };
  return new TeamsCloudAdapter(guardedConnectors(new ConfigurationBotFrameworkAuthentication(options), serviceUrlTrustFrom(config)));
}

/**
 * botbuilder's public-cloud settings with another OpenID metadata document (`BotOpenIdMetadata`, a
 * loopback stand-in in tests). Once one of these settings is given botbuilder takes none of its
 * defaults, so the rest are spelled out as its public-cloud defaults are. The stand-in serves the
 * keys for emulator-issued tokens too, so that no token check leaves the machine.
 */
function publicCloudWithMetadata(metadataUrl: string): ConfigurationBotFrameworkAuthenticationOptions {
  return {
    ToBotFromChannelOpenIdMetadataUrl: metadataUrl,
    ToBotFromChannelTokenIssuer: AuthenticationConstants.ToBotFromChannelTokenIssuer,
    ToBotFromEmulatorOpenIdMetadataUrl: metadataUrl,
    ToChannelFromBotLoginUrl: AuthenticationConstants.ToChannelFromBotLoginUrl,
    ToChannelFromBotOAuthScope: AuthenticationConstants.ToChannelFromBotOAuthScope,
    OAuthUrl: AuthenticationConstants.OAuthUrl,
    CallerId: CallerIdConstants.PublicAzureChannel,
    ValidateAuthority: true,
  };
}

/**
 * CloudAdapter with its turn entry point open to the bot endpoint. `CloudAdapter.process` writes
 * every failure (a bad token from a scanner, a storage outage in the turn) to `console.error` as
 * a multi-line dump with the request inside; the endpoint calls this instead and logs one line.
 */
export class TeamsCloudAdapter extends CloudAdapter {
  /**
   * Authenticates the request (when an app id is set) and runs `logic` in a turn. Every way a token
   * can be wrong ends as an `AuthenticationError` (401): botbuilder lets a bad signature through as
   * jsonwebtoken's own error, which would otherwise be a 500. Signing keys that could not be
   * loaded are the dependency's failure, not the caller's, and are not reported as a 401.
   */
  async runTurn(authHeader: string, activity: Activity, logic: (context: TurnContext) => Promise<void>): Promise<InvokeResponse | undefined> {
    let inTurn = false;
    try {
      return await this.processActivity(authHeader, activity, async (context) => {
        inTurn = true;
        await logic(context);
      });
    } catch (error) {
      if (inTurn) throw error;
      throw authenticationFailure(error);
    }
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

/** jsonwebtoken's errors for a token that is malformed, wrongly signed, expired or not yet valid. */
const TOKEN_ERRORS = new Set(['JsonWebTokenError', 'TokenExpiredError', 'NotBeforeError']);

/** What failed before the turn began, as the endpoint should answer it. */
function authenticationFailure(error: unknown): unknown {
  if (error instanceof AuthenticationError) {
    if (error.statusCode === 401) return error;
    // login.botframework.com did not serve its keys: the caller may send the activity again later (503).
    return Object.assign(new Error('the Bot Framework signing keys could not be loaded', { cause: error }), { code: 'ServiceUnavailable' });
  }
  if (error instanceof Error && TOKEN_ERRORS.has(error.name)) return new AuthenticationError(`invalid token: ${error.message}`, 401);
  return error;
}
