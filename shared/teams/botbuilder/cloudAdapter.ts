import { CloudAdapter, ConfigurationBotFrameworkAuthentication, type ConfigurationBotFrameworkAuthenticationOptions } from 'botbuilder';
import type { Config } from '../../config';

/**
 * botbuilder's CloudAdapter from our settings. With no app id it neither checks incoming tokens nor
 * signs outgoing calls (local development against the Agents Playground); with `UserAssignedMSI`
 * it signs with the managed identity, so no password exists anywhere.
 */
export function createCloudAdapter(config: Pick<Config, 'botAppId' | 'botAppType' | 'botAppTenantId' | 'botAppPassword'>): CloudAdapter {
  const options: ConfigurationBotFrameworkAuthenticationOptions = {
    ...(config.botAppId !== undefined && { MicrosoftAppId: config.botAppId }),
    ...(config.botAppType !== undefined && { MicrosoftAppType: config.botAppType }),
    ...(config.botAppTenantId !== undefined && { MicrosoftAppTenantId: config.botAppTenantId }),
    ...(config.botAppPassword !== undefined && { MicrosoftAppPassword: config.botAppPassword }),
  };
  return new CloudAdapter(new ConfigurationBotFrameworkAuthentication(options));
}
