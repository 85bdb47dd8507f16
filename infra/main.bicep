// teams-notify: everything one `az deployment group create` needs for a working pipeline.
//
//   HTTP POST /api/notifications ─► Service Bus queue `delivery-jobs` ─► worker ─► Bot Connector ─► Teams
//   Teams ─► Azure Bot (Teams channel) ─► POST /api/messages (installs, conversation references)
//
// No secret exists in the default configuration: the bot authenticates as a user-assigned managed
// identity (msaAppType UserAssignedMSI), and the Function App reaches Storage, Service Bus and
// Application Insights with that same identity through RBAC. Shared keys and SAS are turned off.
// The two optional secrets (a SingleTenant bot's client secret, the callback signing key) live in one
// Key Vault, created only when one of them is given; app settings hold Key Vault references.

targetScope = 'resourceGroup'

// ─── Parameters ──────────────────────────────────────────────────────────────────────────────

@description('Short name of the environment (dev, test, prod); part of every resource name and the azd-env-name tag.')
@minLength(1)
@maxLength(12)
param environmentName string

@description('Region for every regional resource. It must offer the Flex Consumption plan: `az functionapp list-flexconsumption-locations -o table`.')
param location string = resourceGroup().location

@description('The one name people see: the bot\'s display name, the Teams app\'s short name (npm run package:teams reads the appName output), and the name the app uses in welcomes, help and card footers (APP_NAME).')
@minLength(1)
@maxLength(30)
param appName string = 'Teams Notify'

@description('How the bot authenticates to the Bot Framework. UserAssignedMSI (default): the managed identity is the bot, no password exists. SingleTenant: an existing Entra app registration (singleTenantAppId) with a client secret (singleTenantAppPassword), kept in Key Vault.')
@allowed([
  'UserAssignedMSI'
  'SingleTenant'
])
param botAppType string = 'UserAssignedMSI'

@description('SingleTenant only: client (application) id of the Entra app registration that is the bot. Ignored for UserAssignedMSI.')
param singleTenantAppId string = ''

@description('SingleTenant only: a client secret of that app registration. Stored in Key Vault; the app setting holds a Key Vault reference, never the value.')
@secure()
param singleTenantAppPassword string = ''

@description('Key for the HMAC-SHA256 signature (X-Signature-256) of callback events (CALLBACK_SIGNING_KEY), at least 32 characters: `-p callbackSigningKey=$(openssl rand -hex 32)`. Stored in Key Vault; the app setting holds a Key Vault reference, never the value. Empty: CALLBACK_SIGNING_KEY is empty and the API refuses callbackUrl (400). Pass it on every deployment: a deployment without it empties the setting.')
@secure()
param callbackSigningKey string = ''

@description('Azure Bot pricing tier. F0 is free and has no limit on messages to the Teams channel (a standard channel).')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'F0'

@description('Upper bound of Flex Consumption instances. Instances share each tenant\'s Bot Connector rate through its timeline in Table Storage, so the rate is not divided by this.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Bot Connector requests per second allowed for one app in one tenant (Teams documents 50): SEND_RATE_PER_SECOND. Every instance plans on the tenant\'s shared timeline in Table Storage, so any number of instances share this rate; it adapts down on 429s.')
@minValue(1)
@maxValue(1000)
param tenantRatePerSecond int = 50

@description('Send attempts per recipient for transient failures before a recipient is marked retries-exhausted (MAX_DELIVERY_ATTEMPTS).')
@minValue(1)
@maxValue(50)
param maxDeliveryAttempts int = 6

@description('Comma-separated Entra tenant ids the bot serves (ALLOWED_TENANT_IDS). Empty: only the tenant of this deployment, which is the only tenant a UserAssignedMSI or SingleTenant bot can be used from anyway.')
param allowedTenantIds string = ''

@description('Prefix for the table names the app creates at start (TABLE_PREFIX), so several deployments can share one account. Empty: no prefix.')
@maxLength(21)
param tablePrefix string = ''

@description('Optional welcome text for a personal install (WELCOME_PERSONAL_TEXT). Empty: the app default.')
param welcomePersonalText string = ''

@description('Optional welcome text for a team install (WELCOME_TEAM_TEXT). Empty: the app default.')
param welcomeTeamText string = ''

@description('Peek-lock duration of a delivery job (ISO 8601, at most PT5M). The Functions host renews the lock while the function runs (host.json maxAutoLockRenewalDuration), so this only bounds how long a job stays invisible after an instance dies.')
param queueLockDuration string = 'PT1M'

@description('Deliveries of one job before Service Bus moves it to the queue\'s own $DeadLetterQueue. The worker parks jobs it gives up on itself; this is the backstop for crashes and unhandled errors.')
@minValue(1)
@maxValue(100)
param queueMaxDeliveryCount int = 10

@description('Window in which Service Bus drops a second message with the same MessageId (jobs carry deterministic ids). Set at queue creation: changing requiresDuplicateDetection later needs a new queue.')
param duplicateDetectionWindow string = 'PT1H'

@description('Time to live of a queued job; an expired job is dead-lettered (deadLetteringOnMessageExpiration), not silently dropped.')
param jobTimeToLive string = 'P7D'

@description('Days Log Analytics keeps logs and Application Insights telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Microsoft Graph\'s root (GRAPH_ENDPOINT): https://graph.microsoft.com, or a national cloud\'s (https://graph.microsoft.us, https://dod-graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn). The app calls it as the managed identity (token scope {graphEndpoint}/.default).')
param graphEndpoint string = 'https://graph.microsoft.com'

@description('GRAPH_PROACTIVE_INSTALL: before delivery, install the app through Microsoft Graph for users and teams that do not have it. Needs teamsAppCatalogId, and adds the install permissions to the graphPermissions output.')
param graphProactiveInstall bool = false

@description('TEAMS_APP_CATALOG_ID: the app\'s id in the organization\'s app catalog (not the manifest id), what Graph installs. Required when graphProactiveInstall is true (the app refuses to start without it). Empty: unset.')
param teamsAppCatalogId string = ''

@description('Microsoft Graph requests per second per tenant, for each instance (GRAPH_RATE_PER_SECOND). A 429 or 503 with Retry-After pauses that tenant\'s Graph calls for as long as Graph asks.')
@minValue(1)
@maxValue(1000)
param graphRatePerSecond int = 10

@description('AUDIENCE_GUARD: a request whose fan-out entries (all users, all teams, team members, groups, the organization) together reach more people than this is refused with 422 unless it carries maxAudience; the expansion then stops at maxAudience.')
@minValue(1)
@maxValue(10000000)
param audienceGuard int = 10000

@description('TEAMS_SERVICE_URL_HOSTS: comma-separated host patterns (a *. prefix for any host under a domain) that a conversation\'s serviceUrl must be on, https only. Empty: Teams\' own hosts (public cloud, GCC, GCC High, DoD).')
param teamsServiceUrlHosts string = ''

@description('RETENTION_DAYS: a finished notification (completed, cancelled or recalled) is kept this many days after its creation (or its sendAt, when later); then the hourly purge deletes it, its rows and its Idempotency-Key.')
@minValue(1)
@maxValue(3650)
param retentionDays int = 30

@description('SEND_AT_HORIZON_DAYS: the furthest ahead a request\'s sendAt may be, in days; a sendAt beyond it is refused with 400.')
@minValue(1)
@maxValue(3650)
param sendAtHorizonDays int = 30

@description('Tags added to every resource (azd-env-name is always added).')
param tags object = {}

// ─── Names ───────────────────────────────────────────────────────────────────────────────────

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var isSingleTenant = botAppType == 'SingleTenant'
var hasCallbackSigningKey = !empty(callbackSigningKey)

var names = {
  identity: 'id-notify-${environmentName}-${resourceToken}'
  logAnalytics: 'log-notify-${environmentName}-${resourceToken}'
  appInsights: 'appi-notify-${environmentName}-${resourceToken}'
  storage: take('stnotify${resourceToken}', 24)
  serviceBus: 'sbns-notify-${environmentName}-${resourceToken}'
  plan: 'plan-notify-${environmentName}-${resourceToken}'
  functionApp: 'func-notify-${environmentName}-${resourceToken}'
  bot: 'bot-notify-${environmentName}-${resourceToken}'
  keyVault: take('kv-notify-${resourceToken}', 24)
}

// The queue names the code uses (shared/queue/jobQueue.ts); test/infra checks they stay equal.
var deliveryQueueName = 'delivery-jobs'
var deadLetterQueueName = 'delivery-jobs-deadletter'
// The Flex Consumption deployment package lives here (blob container, identity auth).
var deploymentContainerName = 'app-package'

// Microsoft Graph application permissions (app roles of the Microsoft Graph service principal) the
// managed identity needs, least privileged for each call shared/graph/httpGraph.ts makes. A template
// cannot grant them here: scripts/grant-graph-permissions.sh grants the graphPermissions output.
var graphAudiencePermissions = [
  'GroupMember.Read.All' // GET /groups/{id}/transitiveMembers/microsoft.graph.user and its $count
  'User.Read.All' // GET /users?$filter=...&$count=true and /users/$count
]
var graphInstallPermissions = [
  'TeamsAppInstallation.ReadWriteSelfForUser.All' // POST and GET /users/{id}/teamwork/installedApps, GET .../{id}/chat
  'TeamsAppInstallation.ReadWriteSelfForTeam.All' // POST /teams/{id}/installedApps
  'Channel.ReadBasic.All' // GET /teams/{id}/primaryChannel (ChannelSettings.Read.Group is resource-specific consent only)
]
var graphPermissions = concat(graphAudiencePermissions, graphProactiveInstall ? graphInstallPermissions : [])


// ─── Identity ────────────────────────────────────────────────────────────────────────────────

@description('The one identity of the app: Function App runtime, its data-plane access, and (UserAssignedMSI) the bot itself.')
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: names.identity
  location: location
  tags: allTags
}

// ─── Modules ─────────────────────────────────────────────────────────────────────────────────

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: allTags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    retentionInDays: logRetentionInDays
    principalId: identity.properties.principalId
    identityId: identity.id
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: allTags
    name: names.storage
    deploymentContainerName: deploymentContainerName
    principalId: identity.properties.principalId
    identityId: identity.id
  }
}

module serviceBus 'modules/serviceBus.bicep' = {
  name: 'serviceBus'
  params: {
    location: location
    tags: allTags
    name: names.serviceBus
    deliveryQueueName: deliveryQueueName
    deadLetterQueueName: deadLetterQueueName
    lockDuration: queueLockDuration
    maxDeliveryCount: queueMaxDeliveryCount
    duplicateDetectionWindow: duplicateDetectionWindow
    jobTimeToLive: jobTimeToLive
    principalId: identity.properties.principalId
    identityId: identity.id
  }
}

// One vault for the app's secrets, created when there is one to keep.
module keyVault 'modules/keyVault.bicep' = if (isSingleTenant || hasCallbackSigningKey) {
  name: 'keyVault'
  params: {
    location: location
    tags: allTags
    name: names.keyVault
    storeBotSecret: isSingleTenant
    appPassword: singleTenantAppPassword
    storeCallbackSigningKey: hasCallbackSigningKey
    callbackSigningKey: callbackSigningKey
    principalId: identity.properties.principalId
    identityId: identity.id
  }
}

var botAppId = isSingleTenant ? singleTenantAppId : identity.properties.clientId

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  params: {
    location: location
    tags: allTags
    planName: names.plan
    name: names.functionApp
    identityId: identity.id
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    // Every setting the code reads (shared/config.ts SETTINGS) plus the host's own. Identity-based
    // connections only: a name__fullyQualifiedNamespace / __accountName, the credential kind and the
    // client id of the user-assigned identity; no connection string, key or password appears here.
    appSettings: {
      // Functions host storage (leases, keys) over the managed identity.
      AzureWebJobsStorage__accountName: storage.outputs.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.properties.clientId
      // Telemetry: the connection string only says where to send; Entra auth is required because
      // local auth is off on the Application Insights resource.
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
      // The Service Bus trigger binding (connection 'ServiceBusConnection') and the app's sender.
      ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
      ServiceBusConnection__credential: 'managedidentity'
      ServiceBusConnection__clientId: identity.properties.clientId
      QUEUE_TRANSPORT: 'servicebus'
      // Tables, through DefaultAzureCredential with AZURE_CLIENT_ID.
      STORAGE_TABLE_ENDPOINT: storage.outputs.tableEndpoint
      // Large requests' recipient lists (the identity is Storage Blob Data Owner on the account).
      STORAGE_BLOB_ENDPOINT: storage.outputs.blobEndpoint
      TABLE_PREFIX: tablePrefix
      AZURE_CLIENT_ID: identity.properties.clientId
      // botbuilder's ConfigurationBotFrameworkAuthentication.
      MicrosoftAppType: botAppType
      MicrosoftAppId: botAppId
      MicrosoftAppTenantId: tenant().tenantId
      // Empty for UserAssignedMSI (no password exists); a Key Vault reference for SingleTenant.
      MicrosoftAppPassword: isSingleTenant ? '@Microsoft.KeyVault(SecretUri=${keyVault!.outputs.botSecretUri})' : ''
      ALLOWED_TENANT_IDS: empty(allowedTenantIds) ? tenant().tenantId : allowedTenantIds
      // Empty: the app trusts Teams' own Bot Connector hosts only.
      TEAMS_SERVICE_URL_HOSTS: teamsServiceUrlHosts
      SEND_RATE_PER_SECOND: string(tenantRatePerSecond)
      MAX_DELIVERY_ATTEMPTS: string(maxDeliveryAttempts)
      QUEUE_MAX_DELIVERY_COUNT: string(queueMaxDeliveryCount)
      APP_NAME: appName
      WELCOME_PERSONAL_TEXT: welcomePersonalText
      WELCOME_TEAM_TEXT: welcomeTeamText
      // Microsoft Graph, called with the managed identity (AZURE_CLIENT_ID); the app roles it needs
      // are the graphPermissions output. A bool would be written 'True'/'False': the app reads 'true'/'false'.
      GRAPH_ENDPOINT: graphEndpoint
      GRAPH_PROACTIVE_INSTALL: graphProactiveInstall ? 'true' : 'false'
      TEAMS_APP_CATALOG_ID: teamsAppCatalogId
      GRAPH_RATE_PER_SECOND: string(graphRatePerSecond)
      AUDIENCE_GUARD: string(audienceGuard)
      RETENTION_DAYS: string(retentionDays)
      SEND_AT_HORIZON_DAYS: string(sendAtHorizonDays)
      // Callback signatures: a Key Vault reference when a key was given; empty, the API refuses callbackUrl.
      CALLBACK_SIGNING_KEY: hasCallbackSigningKey ? '@Microsoft.KeyVault(SecretUri=${keyVault!.outputs.callbackSigningKeySecretUri})' : ''
    }
  }
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  params: {
    tags: allTags
    name: names.bot
    displayName: appName
    sku: botSku
    endpoint: '${functionApp.outputs.baseUrl}/api/messages'
    msaAppType: botAppType
    msaAppId: botAppId
    msaAppTenantId: tenant().tenantId
    msaAppMSIResourceId: isSingleTenant ? '' : identity.id
  }
}

// ─── Outputs (no secrets: ids, names and URLs only) ─────────────────────────────────────────

@description('Base URL of the Function App; the API is under /api (POST /api/notifications, GET /api/health).')
output functionBaseUrl string = functionApp.outputs.baseUrl

@description('Name of the Function App, for `func azure functionapp publish` and `az functionapp keys list`.')
output functionAppName string = functionApp.outputs.name

@description('Host name of the Function App: the Teams manifest lists it in validDomains.')
output functionHostName string = functionApp.outputs.hostName

@description('The bot (Microsoft App) id: the managed identity\'s client id, or the SingleTenant app registration\'s. The Teams manifest\'s botId.')
output botId string = botAppId

@description('Authentication type of the bot (MicrosoftAppType).')
output botAppType string = botAppType

@description('Where Teams sends activities, as registered on the Azure Bot.')
output messagingEndpoint string = bot.outputs.endpoint

@description('The one name people see (APP_NAME): the bot, the Teams app\'s short name, welcomes, help and cards.')
output appName string = appName

@description('Name of the Azure Bot resource.')
output botResourceName string = bot.outputs.name

@description('Client id of the user-assigned managed identity (AZURE_CLIENT_ID).')
output identityClientId string = identity.properties.clientId

@description('Object (principal) id of the user-assigned managed identity\'s service principal: what gets the Microsoft Graph app roles in graphPermissions.')
output identityPrincipalId string = identity.properties.principalId

@description('Microsoft Graph application permissions the managed identity needs with these parameters (group and organization audiences; with graphProactiveInstall, installing the app). A template cannot grant them: run scripts/grant-graph-permissions.sh <resource group> <deployment name> as a Privileged Role Administrator.')
output graphPermissions array = graphPermissions

@description('GRAPH_ENDPOINT: the Microsoft Graph the app calls, and where the permissions are granted.')
output graphEndpoint string = graphEndpoint

@description('Service Bus namespace host name.')
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace

@description('Delivery queue name (the trigger queue).')
output deliveryQueueName string = deliveryQueueName

@description('Queue where the worker parks jobs it gives up on.')
output deadLetterQueueName string = deadLetterQueueName

@description('Table endpoint of the storage account (STORAGE_TABLE_ENDPOINT).')
output storageTableEndpoint string = storage.outputs.tableEndpoint

@description('Maximum Flex Consumption instances. They share each tenant\'s rate through its timeline, so this does not divide it.')
output maximumInstanceCount int = maximumInstanceCount

@description('SEND_RATE_PER_SECOND: each tenant\'s rate, shared by all instances.')
output sendRatePerSecond int = tenantRatePerSecond
