// Log Analytics workspace + workspace-based Application Insights with local (instrumentation key)
// auth turned off: telemetry is accepted only with an Entra token, which the app gets as the
// user-assigned identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) thanks to the role below.

import { roleIds } from 'roles.bicep'

@description('Region of the workspace and the component.')
param location string

@description('Tags for both resources.')
param tags object

@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights component name.')
param appInsightsName string

@description('Retention of logs and telemetry, in days.')
param retentionInDays int

@description('Principal id of the identity that publishes telemetry.')
param principalId string

@description('Resource id of that identity: known before deployment, so role assignment names are stable and What-If can predict them.')
param identityId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    RetentionInDays: retentionInDays
  }
}

@description('Monitoring Metrics Publisher on the component: lets the identity send telemetry with Entra auth.')
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Where telemetry goes (ingestion endpoint and component id; not a credential: local auth is off).')
output connectionString string = appInsights.properties.ConnectionString

@description('Application Insights component name.')
output appInsightsName string = appInsights.name
