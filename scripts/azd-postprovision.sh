#!/bin/sh
# azd postprovision hook (azure.yaml): after `azd provision` / `azd up`, says where Teams reaches the
# bot and what is left to do by hand: grant the Microsoft Graph permissions and upload the Teams app
# package. It reads only ids, names and URLs (the outputs of infra/main.bicep, which azd puts in the
# environment under the same names, and azd's own AZURE_* values) and never prints a secret.
set -eu

# Inputs. test/infra/azd.test.ts checks that each one is an output of infra/main.bicep or a value
# azd sets itself, and runs this script with only these set.
: "${messagingEndpoint:?missing: the messagingEndpoint output of infra/main.bicep (run azd provision)}"
: "${functionBaseUrl:?missing: the functionBaseUrl output of infra/main.bicep}"
: "${functionHostName:?missing: the functionHostName output of infra/main.bicep}"
: "${functionAppName:?missing: the functionAppName output of infra/main.bicep}"
: "${botId:?missing: the botId output of infra/main.bicep}"
: "${appName:?missing: the appName output of infra/main.bicep}"
: "${identityPrincipalId:?missing: the identityPrincipalId output of infra/main.bicep}"
: "${graphPermissions:?missing: the graphPermissions output of infra/main.bicep}"
: "${graphEndpoint:?missing: the graphEndpoint output of infra/main.bicep}"
: "${AZURE_RESOURCE_GROUP:?missing: AZURE_RESOURCE_GROUP, which azd sets}"

# One shell word, single-quoted when it needs to be, for commands people paste.
quote() {
  case $1 in
    '' | *[!A-Za-z0-9_./:@%+=,-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf '%s' "$1" ;;
  esac
}

# azd stores an array output as JSON: ["GroupMember.Read.All","User.Read.All"].
permissions=$(printf '%s' "$graphPermissions" | tr -d '[]" \r\n' | tr ',' ' ')

cat <<EOF

teams-notify is provisioned.

  Messaging endpoint (registered on the Azure Bot): $messagingEndpoint
  Bot (Microsoft App) id:                           $botId
  Function App:                                     $functionAppName ($functionBaseUrl)

Once \`azd deploy\` has run (\`azd up\` runs it next), this answers 200:
  curl -s $(quote "$functionBaseUrl/api/health")

1. Grant the Microsoft Graph application permissions the deployment needs ($permissions),
   as a Privileged Role Administrator or Global Administrator:
     PRINCIPAL_ID=$(quote "$identityPrincipalId") GRAPH_PERMISSIONS=$(quote "$permissions") GRAPH_ENDPOINT=$(quote "$graphEndpoint") \\
       scripts/grant-graph-permissions.sh --dry-run
   then the same without --dry-run.

2. Build the Teams app package (build/appPackage.zip):
     BOT_ID=$(quote "$botId") BOT_DOMAIN=$(quote "$functionHostName") APP_NAME=$(quote "$appName") npm run package:teams
   and upload it: Teams admin center > Teams apps > Manage apps > Upload new app (for the
   organization), or Teams > Apps > Manage your apps > Upload an app (for yourself).

3. Call the API with a function key:
     az functionapp keys list -g $(quote "$AZURE_RESOURCE_GROUP") -n $(quote "$functionAppName") --query functionKeys.default -o tsv

EOF
