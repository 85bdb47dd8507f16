/**
 * The compiled ARM template is wired to what the code reads: app setting names come from
 * shared/config.ts (SETTINGS) and queue names from shared/queue/jobQueue.ts, so a rename in the code
 * fails here until infra/ follows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionDefinitions } from '../../functions/definitions';
import { DEFAULT_GRAPH_ENDPOINT, SETTINGS, loadConfig } from '../../shared/config';
import { DEAD_LETTER_QUEUE_NAME, DELIVERY_QUEUE_NAME } from '../../shared/queue/jobQueue';
import {
  ROOT,
  UnsupportedExpression,
  evaluate,
  mainTemplate,
  mainVariable,
  moduleNamed,
  moduleOutput,
  moduleParam,
  oneResource,
  parameterName,
  referencesIdentity,
  referencesModuleOutput,
  resourcesOfType,
} from './arm';

/**
 * Settings the code reads only outside Azure: connection strings, which Azure must not carry, the
 * loopback stand-in for login.botframework.com that tests check Bot Framework tokens against, and
 * the local host's log format (Azure's logs go to Application Insights).
 */
const LOCAL_ONLY = [SETTINGS.storageConnectionString, SETTINGS.serviceBusConnectionString, SETTINGS.botOpenIdMetadata, SETTINGS.logFormat] as const;

function appSettings(): Record<string, unknown> {
  const value = moduleParam('functionApp', 'appSettings');
  expect(value).toEqual(expect.any(Object));
  return value as Record<string, unknown>;
}

function defaultOf(param: string): unknown {
  const p = mainTemplate().parameters?.[param];
  if (!p) throw new Error(`main.bicep has no parameter ${param}`);
  return p.defaultValue;
}

describe('app settings', () => {
  it('sets every setting the code reads (shared/config.ts SETTINGS), except the local-only connection strings', () => {
    const names = Object.keys(appSettings());
    const expected = Object.values(SETTINGS).filter((name) => !(LOCAL_ONLY as readonly string[]).includes(name));
    expect(names).toEqual(expect.arrayContaining(expected));
    for (const name of LOCAL_ONLY) expect(names).not.toContain(name);
  });

  it('turns the site\'s appSettings into exactly these name/value pairs', () => {
    const site = oneResource('Microsoft.Web/sites');
    expect(site.module).toBe('functionApp');
    const siteConfig = site.resource.properties?.siteConfig as { copy?: { name: string; count: string; input: unknown }[] };
    // A property copy loop over items(parameters('appSettings')) → { name: key, value: value }.
    expect(siteConfig.copy).toEqual([
      {
        name: 'appSettings',
        count: "[length(items(parameters('appSettings')))]",
        input: {
          name: "[items(parameters('appSettings'))[copyIndex('appSettings')].key]",
          value: "[items(parameters('appSettings'))[copyIndex('appSettings')].value]",
        },
      },
    ]);
  });

  it('uses identity-based connections for host storage and the Service Bus trigger (user-assigned identity)', () => {
    const s = appSettings();
    expect(s).not.toHaveProperty('AzureWebJobsStorage');
    expect(referencesModuleOutput(s.AzureWebJobsStorage__accountName, 'storage', 'name')).toBe(true);
    expect(s.AzureWebJobsStorage__credential).toBe('managedidentity');
    expect(referencesIdentity(s.AzureWebJobsStorage__clientId, 'clientId')).toBe(true);

    // app.serviceBusQueue({ connection: 'ServiceBusConnection' }) reads ServiceBusConnection__*.
    expect(SETTINGS.serviceBusNamespace).toBe('ServiceBusConnection__fullyQualifiedNamespace');
    expect(referencesModuleOutput(s[SETTINGS.serviceBusNamespace], 'serviceBus', 'fullyQualifiedNamespace')).toBe(true);
    expect(moduleOutput('serviceBus', 'fullyQualifiedNamespace')).toMatch(/serviceBusEndpoint/);
    expect(s.ServiceBusConnection__credential).toBe('managedidentity');
    expect(referencesIdentity(s.ServiceBusConnection__clientId, 'clientId')).toBe(true);
    expect(s[SETTINGS.queueTransport]).toBe('servicebus');
  });

  it('points the table store at the account\'s table endpoint, used with the identity (AZURE_CLIENT_ID)', () => {
    const s = appSettings();
    expect(referencesModuleOutput(s[SETTINGS.tableEndpoint], 'storage', 'tableEndpoint')).toBe(true);
    expect(moduleOutput('storage', 'tableEndpoint')).toMatch(/primaryEndpoints\.table/);
    expect(referencesIdentity(s[SETTINGS.managedIdentityClientId], 'clientId')).toBe(true);
  });

  it('gives botbuilder the managed identity as the bot by default (UserAssignedMSI, no password)', () => {
    const s = appSettings();
    expect(parameterName(s[SETTINGS.botAppType])).toBe('botAppType');
    expect(defaultOf('botAppType')).toBe('UserAssignedMSI');
    expect(mainTemplate().parameters?.botAppType?.allowedValues).toEqual(['UserAssignedMSI', 'SingleTenant']);
    // MicrosoftAppId: the identity's client id unless SingleTenant.
    expect(s[SETTINGS.botAppId]).toMatch(/^\[if\(variables\('isSingleTenant'\), parameters\('singleTenantAppId'\), /);
    expect(referencesIdentity(s[SETTINGS.botAppId], 'clientId')).toBe(true);
    expect(s[SETTINGS.botAppTenantId]).toBe('[tenant().tenantId]');
    // MicrosoftAppPassword: empty, or a Key Vault reference (SingleTenant); never the value.
    expect(s[SETTINGS.botAppPassword]).toMatch(
      /^\[if\(variables\('isSingleTenant'\), format\('@Microsoft\.KeyVault\(SecretUri=\{0\}\)', reference\(resourceId\('Microsoft\.Resources\/deployments', 'keyVault'\), '[^']+'\)\.outputs\.botSecretUri\.value\), ''\)\]$/,
    );
    expect(moduleOutput('keyVault', 'botSecretUri')).toBe("[if(parameters('storeBotSecret'), reference('botSecret').secretUri, '')]");
  });

  it('signs callbacks with a key from Key Vault (CALLBACK_SIGNING_KEY a Key Vault reference), or leaves it empty so the API refuses callbackUrl', () => {
    const s = appSettings();
    expect(mainTemplate().parameters?.callbackSigningKey).toMatchObject({ type: 'securestring', defaultValue: '' });
    expect(mainVariable('hasCallbackSigningKey')).toBe("[not(empty(parameters('callbackSigningKey')))]");
    expect(s[SETTINGS.callbackSigningKey]).toMatch(
      /^\[if\(variables\('hasCallbackSigningKey'\), format\('@Microsoft\.KeyVault\(SecretUri=\{0\}\)', reference\(resourceId\('Microsoft\.Resources\/deployments', 'keyVault'\), '[^']+'\)\.outputs\.callbackSigningKeySecretUri\.value\), ''\)\]$/,
    );
    // The versionless URI of the secret the key was written to: a rotated key is read without redeploying.
    expect(moduleOutput('keyVault', 'callbackSigningKeySecretUri')).toBe(
      "[if(parameters('storeCallbackSigningKey'), reference('callbackSigningKeySecret').secretUri, '')]",
    );
    expect(moduleParam('keyVault', 'callbackSigningKey')).toBe("[parameters('callbackSigningKey')]");
    // Without a key the setting is empty, which the app reads as unset: callbacks are off.
    expect(evaluate(s[SETTINGS.callbackSigningKey])).toBe('');
    expect(evaluate(s[SETTINGS.callbackSigningKey], { callbackSigningKey: '' })).toBe('');
    // With one, the value is never what the setting holds: only Azure can resolve the reference.
    expect(() => evaluate(s[SETTINGS.callbackSigningKey], { callbackSigningKey: 'k'.repeat(64) })).toThrow(UnsupportedExpression);
  });

  it('sends telemetry with Entra auth (APPLICATIONINSIGHTS_AUTHENTICATION_STRING with the identity)', () => {
    const s = appSettings();
    expect(referencesModuleOutput(s.APPLICATIONINSIGHTS_CONNECTION_STRING, 'monitoring', 'connectionString')).toBe(true);
    expect(s.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toMatch(/^\[format\('ClientId=\{0\};Authorization=AAD', /);
    expect(referencesIdentity(s.APPLICATIONINSIGHTS_AUTHENTICATION_STRING, 'clientId')).toBe(true);
  });

  it('gives every instance the whole per-tenant rate: the shared timeline divides it, not the instance count', () => {
    const s = appSettings();
    expect(s[SETTINGS.sendRatePerSecond]).toBe("[string(parameters('tenantRatePerSecond'))]");
    expect(defaultOf('tenantRatePerSecond')).toBe(50);
    expect(() => mainVariable('sendRatePerSecond')).toThrow(/no variable/);
    expect(moduleParam('functionApp', 'maximumInstanceCount')).toBe("[parameters('maximumInstanceCount')]");
    const outputs = mainTemplate().outputs ?? {};
    expect(outputs.maximumInstanceCount?.value).toBe("[parameters('maximumInstanceCount')]");
    expect(outputs.sendRatePerSecond?.value).toBe("[parameters('tenantRatePerSecond')]");
    expect(outputs.maxTenantRatePerSecond).toBeUndefined();
  });

  it('points the app at the blob endpoint its identity may write, for large requests\' recipient lists', () => {
    expect(referencesModuleOutput(appSettings()[SETTINGS.blobEndpoint], 'storage', 'blobEndpoint')).toBe(true);
  });

  it('leaves out what Flex Consumption sets itself (runtime and version live in functionAppConfig)', () => {
    const names = Object.keys(appSettings());
    for (const forbidden of ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'WEBSITE_RUN_FROM_PACKAGE', 'WEBSITE_NODE_DEFAULT_VERSION', 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', 'WEBSITE_CONTENTSHARE']) {
      expect(names).not.toContain(forbidden);
    }
  });

  it('passes the app\'s own config check (loadConfig) with the values the template writes', () => {
    // Runtime values stand in for what only Azure knows (reference(), tenant()); everything else is
    // evaluated as ARM would with the parameters' defaults.
    const clientId = '11111111-2222-3333-4444-555555555555';
    const runtime: Record<string, string> = {
      [SETTINGS.tableEndpoint]: 'https://stnotifyabc.table.core.windows.net',
      [SETTINGS.serviceBusNamespace]: 'sbns-notify-dev-abc.servicebus.windows.net',
      [SETTINGS.managedIdentityClientId]: clientId,
      [SETTINGS.botAppId]: clientId,
      [SETTINGS.botAppTenantId]: '99999999-8888-7777-6666-555555555555',
      [SETTINGS.allowedTenants]: '99999999-8888-7777-6666-555555555555',
      [SETTINGS.blobEndpoint]: 'https://stnotifyabc.blob.core.windows.net/',
    };
    const read: readonly string[] = Object.values(SETTINGS);
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(appSettings())) {
      if (name in runtime) {
        env[name] = runtime[name] as string;
        continue;
      }
      try {
        env[name] = String(evaluate(value));
      } catch (e) {
        // Only a setting the app does not read (the host's, telemetry's) may be left to Azure.
        if (!(e instanceof UnsupportedExpression) || read.includes(name)) throw e;
      }
    }
    const config = loadConfig(env);
    expect(config.queueTransport).toBe('servicebus');
    expect(config.tableEndpoint).toBe(runtime[SETTINGS.tableEndpoint]);
    expect(config.botAppType).toBe('UserAssignedMSI');
    expect(config.botAppPassword).toBeUndefined();
    expect(config.sendRatePerSecond).toBe(50);
    expect(config.maxAttempts).toBe(defaultOf('maxDeliveryAttempts'));
    expect(config.graphEndpoint).toBe(DEFAULT_GRAPH_ENDPOINT);
    expect(config.graphProactiveInstall).toBe(false);
    expect(config.audienceGuard).toBe(defaultOf('audienceGuard'));
    // No key by default: CALLBACK_SIGNING_KEY is set, empty, and the app treats it as unset.
    expect(env[SETTINGS.callbackSigningKey]).toBe('');
    expect(config.callbackSigningKey).toBeUndefined();
  });
});

describe('the function definitions (functions/definitions.ts) against the template', () => {
  it('gives the Service Bus trigger an identity-based connection and a queue the template creates', () => {
    const triggers = functionDefinitions.filter((d) => d.kind === 'queue');
    expect(triggers.length).toBeGreaterThan(0);
    const settings = appSettings();
    const queueNames = [moduleParam('serviceBus', 'deliveryQueueName'), moduleParam('serviceBus', 'deadLetterQueueName')];
    for (const trigger of triggers) {
      expect(settings).toHaveProperty(`${trigger.connection}__fullyQualifiedNamespace`);
      expect(settings[`${trigger.connection}__credential`]).toBe('managedidentity');
      expect(referencesIdentity(settings[`${trigger.connection}__clientId`], 'clientId')).toBe(true);
      expect(settings).not.toHaveProperty(trigger.connection);
      expect(queueNames).toContain(trigger.queueName);
    }
  });

  it('serves the bot\'s messaging endpoint (/api/messages) anonymously: Bot Framework JWTs are its key', () => {
    const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as { extensions: { http: { routePrefix: string } } };
    const bot = functionDefinitions.find((d) => d.kind === 'http' && `/${host.extensions.http.routePrefix}/${d.route}` === '/api/messages');
    expect(bot).toMatchObject({ methods: ['POST'], authLevel: 'anonymous' });
    expect(moduleParam('bot', 'endpoint')).toMatch(/\/api\/messages'/);
  });
});

describe('Service Bus', () => {
  const queues = () => resourcesOfType('Microsoft.ServiceBus/namespaces/queues');
  const queueNamed = (param: string) => {
    const q = queues().find((r) => new RegExp(`parameters\\('${param}'\\)\\)\\]$`).test(r.resource.name));
    if (!q) throw new Error(`no queue named by parameter ${param}`);
    return q.resource;
  };

  it('creates exactly the two queues the code uses, with the names from shared/queue/jobQueue.ts', () => {
    expect(queues()).toHaveLength(2);
    expect(moduleParam('serviceBus', 'deliveryQueueName')).toBe(DELIVERY_QUEUE_NAME);
    expect(moduleParam('serviceBus', 'deadLetterQueueName')).toBe(DEAD_LETTER_QUEUE_NAME);
    expect(queueNamed('deliveryQueueName')).toBeDefined();
    expect(queueNamed('deadLetterQueueName')).toBeDefined();
    const outputs = mainTemplate().outputs ?? {};
    expect(outputs.deliveryQueueName?.value).toBe("[variables('deliveryQueueName')]");
  });

  it('configures the delivery queue: lock, max delivery count, dead-lettering on expiry, duplicate detection with a window', () => {
    const p = queueNamed('deliveryQueueName').properties as Record<string, unknown>;
    expect(parameterName(p.lockDuration)).toBe('lockDuration');
    expect(moduleParam('serviceBus', 'lockDuration')).toBe("[parameters('queueLockDuration')]");
    expect(defaultOf('queueLockDuration')).toBe('PT1M');
    expect(parameterName(p.maxDeliveryCount)).toBe('maxDeliveryCount');
    expect(defaultOf('queueMaxDeliveryCount')).toBe(10);
    expect(p.deadLetteringOnMessageExpiration).toBe(true);
    expect(p.requiresDuplicateDetection).toBe(true);
    expect(parameterName(p.duplicateDetectionHistoryTimeWindow)).toBe('duplicateDetectionWindow');
    expect(defaultOf('duplicateDetectionWindow')).toMatch(/^PT\d+[HM]$/);
    expect(p.requiresSession).toBe(false);
  });

  it('parks jobs on a queue that keeps them and dead-letters on expiry', () => {
    const p = queueNamed('deadLetterQueueName').properties as Record<string, unknown>;
    expect(p.deadLetteringOnMessageExpiration).toBe(true);
    expect(p.requiresSession).toBe(false);
  });

  it('uses a Standard namespace (duplicate detection, scheduled messages) with SAS keys disabled', () => {
    const ns = oneResource('Microsoft.ServiceBus/namespaces').resource as unknown as { sku: { name: string }; properties: Record<string, unknown> };
    expect(ns.sku.name).toBe('Standard');
    expect(ns.properties.disableLocalAuth).toBe(true);
    expect(ns.properties.minimumTlsVersion).toBe('1.2');
    expect(resourcesOfType('Microsoft.ServiceBus/namespaces/AuthorizationRules')).toHaveLength(0);
  });

  it('renews the message lock for as long as a function may run (host.json)', () => {
    const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as {
      functionTimeout?: string;
      extensions: { serviceBus: Record<string, unknown> };
    };
    const sb = host.extensions.serviceBus;
    const seconds = (t: string) => t.split(':').map(Number).reduce((a, b) => a * 60 + b, 0);
    // The Node v4 model settles by return/throw: auto-complete must stay on.
    expect(sb.autoCompleteMessages).toBe(true);
    // Prefetched messages' locks run out in the buffer while the rate limiter holds them back.
    expect(sb.prefetchCount).toBe(0);
    expect(seconds(String(sb.maxAutoLockRenewalDuration))).toBeGreaterThanOrEqual(seconds(host.functionTimeout ?? '00:30:00'));
    expect(sb.maxConcurrentCalls).toEqual(expect.any(Number));
  });
});

interface Site {
  kind: string;
  identity: { type: string };
  properties: {
    httpsOnly: boolean;
    functionAppConfig: {
      runtime: unknown;
      scaleAndConcurrency: { maximumInstanceCount: unknown; instanceMemoryMB: unknown };
      deployment: { storage: { type: string; value: unknown; authentication: unknown } };
    };
  };
}

describe('Function App (Flex Consumption)', () => {
  it('runs Node 22 on an FC1 plan with a capped instance count', () => {
    const plan = oneResource('Microsoft.Web/serverfarms').resource as unknown as { sku: { name: string; tier: string }; properties: { reserved: boolean } };
    expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    expect(plan.properties.reserved).toBe(true);
    const site = oneResource('Microsoft.Web/sites').resource as unknown as Site;
    expect(site.kind).toBe('functionapp,linux');
    expect(site.properties.httpsOnly).toBe(true);
    const fac = site.properties.functionAppConfig;
    expect(fac.runtime).toEqual({ name: 'node', version: '22' });
    expect(parameterName(fac.scaleAndConcurrency.maximumInstanceCount)).toBe('maximumInstanceCount');
    expect(parameterName(fac.scaleAndConcurrency.instanceMemoryMB)).toBe('instanceMemoryMB');
  });

  it('deploys from the storage account\'s package container with the user-assigned identity', () => {
    const site = oneResource('Microsoft.Web/sites').resource as unknown as Site;
    const storage = site.properties.functionAppConfig.deployment.storage;
    expect(storage.type).toBe('blobContainer');
    expect(parameterName(storage.value)).toBe('deploymentContainerUrl');
    expect(storage.authentication).toEqual({ type: 'UserAssignedIdentity', userAssignedIdentityResourceId: "[parameters('identityId')]" });
    expect(site.identity.type).toBe('UserAssigned');
    expect(moduleParam('functionApp', 'identityId')).toMatch(/^\[resourceId\('Microsoft\.ManagedIdentity\/userAssignedIdentities', variables\('names'\)\.identity\)\]$/);
    const url = moduleParam('functionApp', 'deploymentContainerUrl');
    expect(referencesModuleOutput(url, 'storage', 'blobEndpoint')).toBe(true);
    expect(url).toMatch(/variables\('deploymentContainerName'\)/);
    expect(moduleParam('storage', 'deploymentContainerName')).toBe(mainVariable('deploymentContainerName'));
  });

  it('turns off FTP and SCM basic-auth publishing credentials', () => {
    const policies = resourcesOfType('Microsoft.Web/sites/basicPublishingCredentialsPolicies').map((r) => r.resource);
    expect(policies.map((p) => /'(ftp|scm)'\)\]$/.exec(p.name)?.[1]).sort()).toEqual(['ftp', 'scm']);
    for (const p of policies) expect(p.properties?.allow).toBe(false);
  });
});

describe('Azure Bot', () => {
  it('is a global azurebot whose identity is the managed identity by default, with the Teams channel', () => {
    const bot = oneResource('Microsoft.BotService/botServices').resource as unknown as { kind: string; location: string; properties: Record<string, unknown> };
    expect(bot.kind).toBe('azurebot');
    expect(bot.location).toBe('global');
    expect(bot.properties.disableLocalAuth).toBe(true);
    expect(parameterName(bot.properties.msaAppType)).toBe('msaAppType');
    expect(moduleParam('bot', 'msaAppType')).toBe("[parameters('botAppType')]");
    // The bot and the app agree on the app id: the identity's client id unless SingleTenant.
    const msaAppId = moduleParam('bot', 'msaAppId');
    expect(msaAppId).toMatch(/^\[if\(variables\('isSingleTenant'\), createObject\('value', parameters\('singleTenantAppId'\)\), createObject\('value', /);
    expect(referencesIdentity(msaAppId, 'clientId')).toBe(true);
    expect(moduleParam('bot', 'msaAppMSIResourceId')).toMatch(/userAssignedIdentities/);
    const channel = oneResource('Microsoft.BotService/botServices/channels').resource as unknown as { properties: { channelName: string } };
    expect(channel.properties.channelName).toBe('MsTeamsChannel');
  });

  it('sends activities to the Function App\'s /api/messages', () => {
    expect(moduleParam('bot', 'endpoint')).toMatch(/^\[format\('\{0\}\/api\/messages', reference\(resourceId\('Microsoft\.Resources\/deployments', 'functionApp'\), '[^']+'\)\.outputs\.baseUrl\.value\)\]$/);
    expect(moduleOutput('functionApp', 'baseUrl')).toMatch(/^\[format\('https:\/\/\{0\}', reference\(.*defaultHostName\)\]$/);
  });

  it('outputs the function base URL, the bot id and the messaging endpoint', () => {
    const outputs = mainTemplate().outputs ?? {};
    expect(referencesModuleOutput(outputs.functionBaseUrl?.value, 'functionApp', 'baseUrl')).toBe(true);
    expect(outputs.botId?.value).toBe((moduleParam('functionApp', 'appSettings') as Record<string, unknown>)[SETTINGS.botAppId]);
    expect(referencesModuleOutput(outputs.messagingEndpoint?.value, 'bot', 'endpoint')).toBe(true);
    expect(moduleNamed('bot').template.outputs?.endpoint?.value).toMatch(/\.endpoint\]$/);
  });
});
