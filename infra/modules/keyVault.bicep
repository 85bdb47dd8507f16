// The app's one Key Vault (RBAC, no access policies), created when the deployment has a secret to
// keep: the SingleTenant bot's client secret (MicrosoftAppPassword) and/or the key callbacks are
// signed with (CALLBACK_SIGNING_KEY). Each secret is readable by the app's identity alone, through
// Key Vault Secrets User on that one secret (not the vault). The Function App reads them through Key
// Vault references (keyVaultReferenceIdentity = the user-assigned identity); no value appears in app
// settings, outputs or deployment history.

import { roleIds } from 'roles.bicep'

@description('Region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

@description('Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Keep the bot\'s client secret (SingleTenant bots).')
param storeBotSecret bool

@description('Client secret of the bot\'s Entra app registration. Used only when storeBotSecret.')
@secure()
param appPassword string

@description('Keep the callback signing key.')
param storeCallbackSigningKey bool

@description('HMAC-SHA256 key for callback signatures (X-Signature-256), at least 32 characters: the app refuses a shorter one. Used only when storeCallbackSigningKey.')
@secure()
param callbackSigningKey string

@description('Principal id of the app\'s identity.')
param principalId string

@description('Resource id of that identity: known before deployment, so role assignment names are stable and What-If can predict them.')
param identityId string

// Secret names (letters, digits and dashes only); role assignments name their secret through these.
var botSecretName = 'MicrosoftAppPassword'
var callbackSigningKeySecretName = 'CallbackSigningKey'

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource botSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = if (storeBotSecret) {
  parent: vault
  name: botSecretName
  properties: {
    value: appPassword
    contentType: 'Bot Framework client secret (MicrosoftAppPassword)'
  }
}

resource callbackSigningKeySecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = if (storeCallbackSigningKey) {
  parent: vault
  name: callbackSigningKeySecretName
  properties: {
    // The app refuses a key under 32 characters at start (shared/config.ts), which would stop every
    // function: fail the deployment instead. The message never contains the value.
    value: length(callbackSigningKey) >= 32 ? callbackSigningKey : fail('callbackSigningKey must be at least 32 characters (e.g. openssl rand -hex 32)')
    contentType: 'HMAC-SHA256 key for callback signatures (CALLBACK_SIGNING_KEY)'
  }
}

@description('Key Vault Secrets User on the bot\'s client secret only, not the vault.')
resource botSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (storeBotSecret) {
  name: guid(botSecret.id, identityId, roleIds.keyVaultSecretsUser)
  scope: botSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Key Vault Secrets User on the callback signing key only, not the vault.')
resource callbackSigningKeyReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (storeCallbackSigningKey) {
  name: guid(callbackSigningKeySecret.id, identityId, roleIds.keyVaultSecretsUser)
  scope: callbackSigningKeySecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Versionless URI of the bot\'s client secret for its Key Vault reference (follows rotation); empty when not stored.')
output botSecretUri string = storeBotSecret ? botSecret!.properties.secretUri : ''

@description('Versionless URI of the callback signing key for its Key Vault reference (follows rotation); empty when not stored.')
output callbackSigningKeySecretUri string = storeCallbackSigningKey ? callbackSigningKeySecret!.properties.secretUri : ''
