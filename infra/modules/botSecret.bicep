// SingleTenant bots only: a Key Vault (RBAC, no access policies) holding the app registration's
// client secret, readable by the app's identity alone. The Function App reads it through a Key Vault
// reference (keyVaultReferenceIdentity = the user-assigned identity); the value never appears in
// app settings, outputs or deployment history.

import { roleIds } from 'roles.bicep'

@description('Region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

@description('Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Client secret of the bot\'s Entra app registration.')
@secure()
param appPassword string

@description('Principal id of the app\'s identity.')
param principalId string

@description('Resource id of that identity: known before deployment, so role assignment names are stable and What-If can predict them.')
param identityId string

var secretName = 'MicrosoftAppPassword'

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

resource secret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = {
  parent: vault
  name: secretName
  properties: {
    value: appPassword
    contentType: 'Bot Framework client secret (MicrosoftAppPassword)'
  }
}

@description('Key Vault Secrets User on this one secret, not the vault.')
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(secret.id, identityId, roleIds.keyVaultSecretsUser)
  scope: secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Versionless secret URI for the Key Vault reference (follows rotation).')
output secretUri string = secret.properties.secretUri
