// teams-attendance as a scheduled Azure Container Apps job.
//
// Deploy into the resource group that holds the storage account, the user-assigned
// identity and the Container Apps environment (docs/deploy.md walks through creating
// them):
//
//   az deployment group create -g <rg> --template-file deploy/containerapps-job.bicep \
//     --parameters environmentName=<env> identityName=<identity> \
//                  storageAccountName=<account> image=<registry>/teams-attendance:<tag> \
//                  mailboxes='room1@contoso.com,room2@contoso.com'
//
// deploy/containerapps-job.json is the same job as an ARM JSON template; keep the two in
// step (tests/e2e/deploy.test.js compares their key values).

@description('Name of the Container Apps job.')
param jobName string = 'teams-attendance'

@description('Region of the job; the environment must be in the same one.')
param location string = resourceGroup().location

@description('Name of an existing Container Apps environment in this resource group.')
param environmentName string

@description('Container image, e.g. myregistry.azurecr.io/teams-attendance:1.0.0.')
param image string

@description('Registry host to pull the image from with the identity (it needs AcrPull there); empty for a public image.')
param registryServer string = ''

@description('Name of an existing user-assigned managed identity in this resource group.')
param identityName string

@description('Name of the existing storage account in this resource group that the job writes to.')
param storageAccountName string

@description('Blob container for snapshots, Parquet files and the checkpoint (created by the job if missing).')
param containerName string = 'teams-attendance'

@description('Mailboxes (UPNs) separated by commas, spaces or newlines (ATTENDANCE_USERS). Give this or groups.')
param mailboxes string = ''

@description('Entra ID groups (object ids or mail addresses) whose members are read (ATTENDANCE_GROUPS). Give this or mailboxes.')
param groups string = ''

// Schedule: Container Apps starts the executions. Manual: something else does, such as
// deploy/synapse-pipeline.json (one scheduler, so that runs are not doubled).
@description('Schedule (Container Apps runs it on cronExpression) or Manual (started by az containerapp job start, the ARM API, a pipeline).')
@allowed([
  'Schedule'
  'Manual'
])
param triggerType string = 'Schedule'

// Hourly, at a quarter past: Teams meetings tend to start and end on the hour, so by
// :15 a run finds them settled, and it stays clear of the top-of-the-hour rush on Graph.
// Container Apps evaluates the expression in UTC.
@description('Schedule, 5-field cron, UTC (triggerType Schedule).')
param cronExpression string = '15 * * * *'

// bench/run did 3,000 mailboxes against a sandbox Graph in under two minutes; an hour
// leaves room for real latency and throttling, and stops a stuck replica before the
// next scheduled run is long under way.
@description('Seconds a replica may run before it is stopped; also the --claim lease.')
@minValue(300)
param replicaTimeoutSeconds int = 3600

// No retry by default: a failed mailbox keeps its watermark and the next scheduled run
// fetches its window again, while a retried replica would redo every mailbox.
@description('Retries of a failed replica within one execution.')
@minValue(0)
param replicaRetryLimit int = 0

@description('Replicas per execution. Above 1 the replicas share the mailboxes with --claim.')
@minValue(1)
param parallelism int = 1

@description('Replicas that must succeed for the execution to succeed (at most parallelism).')
@minValue(1)
param replicaCompletionCount int = parallelism

// The job peaked at 246 MiB for 3,000 mailboxes in one replica and grows slowly past
// that (bench/README.md); 0.5 CPU / 1 GiB is the smallest Consumption pair with room
// to spare, and its 2 GiB of ephemeral storage holds the Parquet spill files.
@description('CPU cores per replica, as a string because Bicep has no decimal literals.')
param cpuCores string = '0.5'

@description('Memory per replica; Consumption pairs it with the CPU (0.5 -> 1Gi).')
param memory string = '1Gi'

@description('How the job gets its Microsoft Graph token: the managed identity, or an app registration\'s client secret from Key Vault.')
@allowed([
  'managedIdentity'
  'clientSecret'
])
param graphAuth string = 'managedIdentity'

@description('clientSecret mode: the app registration\'s application (client) id.')
param graphAppClientId string = ''

@description('clientSecret mode: Key Vault secret URL, e.g. https://<vault>.vault.azure.net/secrets/graph-client-secret (the identity needs Key Vault Secrets User).')
param clientSecretKeyVaultUrl string = ''

@description('Give the identity Storage Blob Data Contributor on the account. Set false when that role assignment already exists.')
param assignStorageRole bool = true

@description('More settings, e.g. [{"name": "ATTENDANCE_PARQUET_TIMESTAMPS", "value": "int96"}].')
param extraEnv array = []

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource managedEnv 'Microsoft.App/managedEnvironments@2024-03-01' existing = {
  name: environmentName
}

// Storage Blob Data Contributor: read, write and create blobs and containers, nothing
// about the account itself.
var storageBlobDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')

resource storageRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignStorageRole) {
  name: guid(storage.id, identity.id, storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: storageBlobDataContributor
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

var useClientSecret = graphAuth == 'clientSecret'
var clientSecretName = 'graph-client-secret'
// The image runs with nothing writable but this volume; the job puts its Parquet spill
// files under TMPDIR.
var scratchPath = '/tmp'
// The --claim lease must outlast a replica, or a slow replica's mailboxes could be
// claimed again by another: whole minutes, rounded up.
var claimLeaseMinutes = (replicaTimeoutSeconds + 59) / 60

var baseEnv = [
  {
    name: 'AZURE_TENANT_ID'
    value: subscription().tenantId
  }
  {
    // The Graph app: the identity itself in managedIdentity mode (its token for Graph
    // comes from the Container Apps identity endpoint), else the app registration.
    name: 'AZURE_CLIENT_ID'
    value: useClientSecret ? graphAppClientId : identity.properties.clientId
  }
  {
    // AZURE_CLIENT_ID names the Graph app, so storage needs its own pointer to the
    // user-assigned identity (the job has no system-assigned one).
    name: 'ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    name: 'AZURE_STORAGE_ACCOUNT_URL'
    value: 'https://${storageAccountName}.blob.${environment().suffixes.storage}'
  }
  {
    name: 'ATTENDANCE_CONTAINER'
    value: containerName
  }
  {
    name: 'ATTENDANCE_CLAIM_LEASE_MINUTES'
    value: string(claimLeaseMinutes)
  }
  {
    name: 'TMPDIR'
    value: scratchPath
  }
  {
    name: 'LOG_FORMAT'
    value: 'json'
  }
]

var mailboxEnv = empty(mailboxes) ? [] : [
  {
    name: 'ATTENDANCE_USERS'
    value: mailboxes
  }
]

var groupEnv = empty(groups) ? [] : [
  {
    name: 'ATTENDANCE_GROUPS'
    value: groups
  }
]

var secretEnv = useClientSecret ? [
  {
    name: 'AZURE_CLIENT_SECRET'
    secretRef: clientSecretName
  }
] : []

resource job 'Microsoft.App/jobs@2024-03-01' = {
  name: jobName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: managedEnv.id
    configuration: {
      triggerType: triggerType
      replicaTimeout: replicaTimeoutSeconds
      replicaRetryLimit: replicaRetryLimit
      scheduleTriggerConfig: triggerType == 'Schedule' ? {
        cronExpression: cronExpression
        parallelism: parallelism
        replicaCompletionCount: replicaCompletionCount
      } : null
      manualTriggerConfig: triggerType == 'Manual' ? {
        parallelism: parallelism
        replicaCompletionCount: replicaCompletionCount
      } : null
      // The secret stays in Key Vault; Container Apps reads it with the identity.
      secrets: useClientSecret ? [
        {
          name: clientSecretName
          keyVaultUrl: clientSecretKeyVaultUrl
          identity: identity.id
        }
      ] : []
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'teams-attendance'
          image: image
          // Container Apps gives a replica no index, so parallel replicas share the
          // mailboxes through claim blobs in the storage account.
          args: parallelism > 1 ? [
            'run'
            '--claim'
          ] : [
            'run'
          ]
          env: concat(baseEnv, mailboxEnv, groupEnv, secretEnv, extraEnv)
          resources: {
            cpu: json(cpuCores)
            memory: memory
          }
          volumeMounts: [
            {
              volumeName: 'scratch'
              mountPath: scratchPath
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'scratch'
          storageType: 'EmptyDir'
        }
      ]
    }
  }
  dependsOn: [
    storageRole
  ]
}

output jobId string = job.id
@description('The identity\'s client id: AZURE_CLIENT_ID in managedIdentity mode, and the app id for the Teams application access policy.')
output identityClientId string = identity.properties.clientId
@description('The identity\'s service principal (object) id, which the Graph app roles are granted to.')
output identityPrincipalId string = identity.properties.principalId
