using 'main.bicep'

// Values for a first deployment. Everything else has a default chosen on purpose (see main.bicep).
// Override on the command line, e.g.: -p environmentName=prod -p maximumInstanceCount=20

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'dev')
param appName = 'Teams Notify'

// UserAssignedMSI: the bot is the managed identity, no password exists.
// For SingleTenant set botAppType = 'SingleTenant', singleTenantAppId, and pass the secret with
//   -p singleTenantAppPassword=$SECRET   (never commit it here).
param botAppType = 'UserAssignedMSI'

// Callbacks (callbackUrl in POST /api/notifications) are signed with callbackSigningKey, which goes to
// Key Vault; without it the API refuses callbackUrl. Pass it on the command line on every deployment,
// never here:
//   -p callbackSigningKey=$(openssl rand -hex 32)
// Keep it where your pipeline keeps secrets: receivers verify signatures with the same key, and a
// deployment without it empties CALLBACK_SIGNING_KEY (callbacks off). A new key rotates it.

// 50 requests/s per tenant (Teams) split over at most 10 instances: 5 per instance.
param maximumInstanceCount = 10
param tenantRatePerSecond = 50

// Microsoft Graph: group and organization audiences always; with graphProactiveInstall the app also
// installs itself for users and teams that lack it, and then needs teamsAppCatalogId (its id in the
// org app catalog: GET /v1.0/appCatalogs/teamsApps?$filter=externalId eq '<manifest id>').
// After deploying, grant the graphPermissions output to the identity (no template can):
//   scripts/grant-graph-permissions.sh "$RG" teams-notify
param graphProactiveInstall = false
param teamsAppCatalogId = ''
