// Service Bus Standard namespace (Standard: duplicate detection and scheduled messages) with SAS
// turned off, the delivery queue that triggers the worker, and the queue where the worker parks the
// jobs it gives up on. The app's identity may send and receive, nothing more (no Manage rights).

import { roleIds } from 'roles.bicep'

@description('Region of the namespace.')
param location string

@description('Tags for the namespace.')
param tags object

@description('Namespace name (6-50 characters, globally unique).')
@minLength(6)
@maxLength(50)
param name string

@description('The trigger queue (DELIVERY_QUEUE_NAME in shared/queue/jobQueue.ts).')
param deliveryQueueName string

@description('Where the worker parks poison or exhausted jobs (DEAD_LETTER_QUEUE_NAME in shared/queue/jobQueue.ts).')
param deadLetterQueueName string

@description('Peek-lock duration of the delivery queue (ISO 8601, at most PT5M).')
param lockDuration string

@description('Deliveries before a job goes to the delivery queue\'s own $DeadLetterQueue.')
param maxDeliveryCount int

@description('Duplicate detection window of the delivery queue (ISO 8601).')
param duplicateDetectionWindow string

@description('Time to live of a delivery job (ISO 8601); expired jobs are dead-lettered.')
param jobTimeToLive string

@description('Principal id of the app\'s identity.')
param principalId string

@description('Resource id of that identity: known before deployment, so role assignment names are stable and What-If can predict them.')
param identityId string

resource namespace 'Microsoft.ServiceBus/namespaces@2026-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource deliveryQueue 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' = {
  parent: namespace
  name: deliveryQueueName
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: jobTimeToLive
    // Jobs carry deterministic MessageIds: a re-sent batch (HTTP retry, producer crash after a
    // partial send) is dropped by Service Bus instead of messaging a person twice. Only settable
    // when the queue is created.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

resource deadLetterQueue 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' = {
  parent: namespace
  name: deadLetterQueueName
  properties: {
    // Parked jobs are read by operators, not by a function: keep them long, never drop them.
    lockDuration: 'PT5M'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: false
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

@description('Azure Service Bus Data Sender: the HTTP function enqueues, the worker re-schedules and parks jobs.')
resource dataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, identityId, roleIds.serviceBusDataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Azure Service Bus Data Receiver: the Service Bus trigger receives and settles delivery jobs.')
resource dataReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, identityId, roleIds.serviceBusDataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Namespace host name, e.g. sbns-x.servicebus.windows.net (ServiceBusConnection__fullyQualifiedNamespace).')
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]

@description('Namespace name.')
output name string = namespace.name

@description('Delivery queue name as created.')
output deliveryQueueName string = deliveryQueue.name

@description('Parking queue name as created.')
output deadLetterQueueName string = deadLetterQueue.name
