using 'main.bicep'

// `azd up` / `azd provision` (azure.yaml: infra.module azd): main.bicep's parameters from the azd
// environment. azd sets AZURE_ENV_NAME and AZURE_LOCATION itself; every other value is
// `azd env set <NAME> <value>`, NAME being the parameter's name in UPPER_SNAKE_CASE, and an unset
// NAME takes the same default as main.bicep (test/infra/azd.test.ts checks both).
// `az deployment group create` keeps using main.bicepparam.

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME')
param location = readEnvironmentVariable('AZURE_LOCATION')

param appName = readEnvironmentVariable('APP_NAME', 'Teams Notify')

// UserAssignedMSI: the bot is the managed identity, no password exists. SingleTenant: an existing
// app registration; its client secret goes to Key Vault (azd keeps it in .azure/<env>/.env, which
// .gitignore keeps out of git).
param botAppType = readEnvironmentVariable('BOT_APP_TYPE', 'UserAssignedMSI')
param singleTenantAppId = readEnvironmentVariable('SINGLE_TENANT_APP_ID', '')
param singleTenantAppPassword = readEnvironmentVariable('SINGLE_TENANT_APP_PASSWORD', '')
param botSku = readEnvironmentVariable('BOT_SKU', 'F0')

// Callbacks: `azd env set CALLBACK_SIGNING_KEY "$(openssl rand -hex 32)"` once; the azd environment
// keeps it, so every later `azd provision` passes the same key (unset: the API refuses callbackUrl).
param callbackSigningKey = readEnvironmentVariable('CALLBACK_SIGNING_KEY', '')

param maximumInstanceCount = int(readEnvironmentVariable('MAXIMUM_INSTANCE_COUNT', '10'))
param instanceMemoryMB = any(int(readEnvironmentVariable('INSTANCE_MEMORY_MB', '2048')))
param tenantRatePerSecond = int(readEnvironmentVariable('TENANT_RATE_PER_SECOND', '50'))
param maxDeliveryAttempts = int(readEnvironmentVariable('MAX_DELIVERY_ATTEMPTS', '6'))
param allowedTenantIds = readEnvironmentVariable('ALLOWED_TENANT_IDS', '')
param teamsServiceUrlHosts = readEnvironmentVariable('TEAMS_SERVICE_URL_HOSTS', '')
param tablePrefix = readEnvironmentVariable('TABLE_PREFIX', '')
param welcomePersonalText = readEnvironmentVariable('WELCOME_PERSONAL_TEXT', '')
param welcomeTeamText = readEnvironmentVariable('WELCOME_TEAM_TEXT', '')

param queueLockDuration = readEnvironmentVariable('QUEUE_LOCK_DURATION', 'PT1M')
param queueMaxDeliveryCount = int(readEnvironmentVariable('QUEUE_MAX_DELIVERY_COUNT', '10'))
param duplicateDetectionWindow = readEnvironmentVariable('DUPLICATE_DETECTION_WINDOW', 'PT1H')
param jobTimeToLive = readEnvironmentVariable('JOB_TIME_TO_LIVE', 'P7D')
param logRetentionInDays = int(readEnvironmentVariable('LOG_RETENTION_IN_DAYS', '30'))
param retentionDays = int(readEnvironmentVariable('RETENTION_DAYS', '30'))
param sendAtHorizonDays = int(readEnvironmentVariable('SEND_AT_HORIZON_DAYS', '30'))

param graphEndpoint = readEnvironmentVariable('GRAPH_ENDPOINT', 'https://graph.microsoft.com')
param graphProactiveInstall = bool(readEnvironmentVariable('GRAPH_PROACTIVE_INSTALL', 'false'))
param teamsAppCatalogId = readEnvironmentVariable('TEAMS_APP_CATALOG_ID', '')
param graphRatePerSecond = int(readEnvironmentVariable('GRAPH_RATE_PER_SECOND', '10'))
param audienceGuard = int(readEnvironmentVariable('AUDIENCE_GUARD', '10000'))
