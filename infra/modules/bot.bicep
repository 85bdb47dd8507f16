// Azure Bot registration (global) with the Microsoft Teams channel. With msaAppType
// UserAssignedMSI the bot's identity is the user-assigned managed identity: no app registration,
// no client secret.

@description('Tags for the bot.')
param tags object

@description('Bot handle (2-64 characters, globally unique).')
@minLength(2)
@maxLength(64)
param name string

@description('Display name shown in Teams.')
param displayName string

@description('Pricing tier.')
@allowed([
  'F0'
  'S1'
])
param sku string

@description('Messaging endpoint: https://<function host>/api/messages.')
param endpoint string

@description('UserAssignedMSI or SingleTenant.')
@allowed([
  'UserAssignedMSI'
  'SingleTenant'
])
param msaAppType string

@description('Client id of the managed identity (UserAssignedMSI) or of the app registration (SingleTenant).')
param msaAppId string

@description('Home tenant of the bot identity.')
param msaAppTenantId string

@description('Resource id of the user-assigned identity (UserAssignedMSI); empty for SingleTenant.')
param msaAppMSIResourceId string

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: sku
  }
  properties: {
    displayName: displayName
    endpoint: endpoint
    msaAppType: msaAppType
    msaAppId: msaAppId
    msaAppTenantId: msaAppTenantId
    msaAppMSIResourceId: empty(msaAppMSIResourceId) ? null : msaAppMSIResourceId
    // Turns off channel secrets (Direct Line / Web Chat keys); Teams does not use them.
    disableLocalAuth: true
    isStreamingSupported: false
    schemaTransformationVersion: '1.3'
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      acceptedTerms: true
    }
  }
}

@description('Bot resource name.')
output name string = bot.name

@description('Registered messaging endpoint.')
output endpoint string = bot.properties.endpoint

@description('Teams channel resource name.')
output teamsChannel string = teams.name
