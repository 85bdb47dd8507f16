#!/usr/bin/env bash
# Grants the function app's user-assigned managed identity the Microsoft Graph application
# permissions (app roles of the Microsoft Graph service principal) the deployment needs. No template
# can do this here, so infra/main.bicep names them in its graphPermissions output and an operator
# runs this once after each deployment that changes them. Roles the identity already has are
# skipped: running it again changes nothing.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage:
  scripts/grant-graph-permissions.sh [--dry-run] <resource-group> [deployment-name]
  PRINCIPAL_ID=<object id> GRAPH_PERMISSIONS='GroupMember.Read.All User.Read.All' \
    scripts/grant-graph-permissions.sh [--dry-run]

With a resource group, reads the outputs identityPrincipalId, graphPermissions and graphEndpoint of
the deployment of infra/main.bicep (deployment name default: teams-notify). Without one, takes
PRINCIPAL_ID (the managed identity's object id), GRAPH_PERMISSIONS (space- or comma-separated) and
GRAPH_ENDPOINT (default https://graph.microsoft.com) from the environment. Then assigns each
permission's Microsoft Graph app role to the identity, unless it already has it.

Needs the az CLI signed in (az login) to the identity's tenant as a Privileged Role Administrator
or Global Administrator: granting Microsoft Graph application permissions takes one of them.

  --dry-run   look everything up and print what would be granted; change nothing
  -h, --help  this text
USAGE
}

die() {
  echo "grant-graph-permissions: $*" >&2
  exit 1
}

# Every permission the graphPermissions output of infra/main.bicep can list, and what it is for
# (test/infra checks that the two agree). Any other name is refused: this grants nothing the
# template did not ask for.
# shellcheck disable=SC2016 # Graph's $filter and $count, not shell expansions.
why() {
  case "$1" in
    GroupMember.Read.All) echo 'group audiences: GET /groups/{id}/transitiveMembers/microsoft.graph.user and $count' ;;
    User.Read.All) echo 'organization audiences: GET /users with $filter and $count' ;;
    TeamsAppInstallation.ReadWriteSelfForUser.All) echo 'proactive install for users: /users/{id}/teamwork/installedApps' ;;
    TeamsAppInstallation.ReadWriteSelfForTeam.All) echo 'proactive install in teams: POST /teams/{id}/installedApps' ;;
    Channel.ReadBasic.All) echo 'proactive install in teams: GET /teams/{id}/primaryChannel' ;;
    *) return 1 ;;
  esac
}

dry_run=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -le 2 ]] || { usage >&2; die "too many arguments"; }

command -v az >/dev/null || die "the az CLI is required (https://learn.microsoft.com/cli/azure/install-azure-cli)"

# az prints CRLF on some platforms; one value per line otherwise.
tsv() { tr -d '\r'; }

if [[ $# -ge 1 ]]; then
  resource_group=$1
  deployment=${2:-teams-notify}
  output() {
    az deployment group show --resource-group "$resource_group" --name "$deployment" \
      --query "properties.outputs.$1.value" --output tsv | tsv
  }
  principal_id=$(output identityPrincipalId)
  permissions=$(output graphPermissions)
  endpoint=$(output graphEndpoint)
  [[ -n "$principal_id" ]] || die "deployment $deployment in $resource_group has no identityPrincipalId output: deploy infra/main.bicep again"
  [[ -n "$permissions" ]] || die "deployment $deployment in $resource_group has no graphPermissions output: deploy infra/main.bicep again"
else
  [[ -n "${PRINCIPAL_ID:-}" && -n "${GRAPH_PERMISSIONS:-}" ]] || { usage >&2; die "give a resource group, or set PRINCIPAL_ID and GRAPH_PERMISSIONS"; }
  principal_id=$PRINCIPAL_ID
  permissions=$(printf '%s\n' "$GRAPH_PERMISSIONS" | tr -s ', ' '\n')
  endpoint=${GRAPH_ENDPOINT:-}
fi

endpoint=${endpoint:-https://graph.microsoft.com}
endpoint=${endpoint%/}
[[ "$endpoint" =~ ^https://[A-Za-z0-9.-]+$ ]] || die "Graph endpoint must be https://<host>, not $endpoint"
[[ "$principal_id" =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]] || die "principal id is not a GUID: $principal_id"

wanted=()
while IFS= read -r name; do
  [[ -n "$name" ]] || continue
  why "$name" >/dev/null || die "refusing $name: not a permission infra/main.bicep asks for"
  wanted+=("$name")
done <<<"$permissions"
[[ ${#wanted[@]} -gt 0 ]] || die "no permissions to grant"

api="$endpoint/v1.0"
GRAPH_APP_ID=00000003-0000-0000-c000-000000000000
graph() { az rest --resource "$endpoint" --output tsv "$@"; }

graph_sp=$(graph --method get --url "$api/servicePrincipals(appId='$GRAPH_APP_ID')?\$select=id" --query id | tsv)
[[ -n "$graph_sp" ]] || die "no Microsoft Graph service principal in this tenant"
# value<TAB>id of every application permission Microsoft Graph defines.
roles=$(graph --method get --url "$api/servicePrincipals/$graph_sp?\$select=appRoles" \
  --query "appRoles[?contains(allowedMemberTypes, 'Application')].[value, id]" | tsv)
assigned=$(graph --method get --url "$api/servicePrincipals/$principal_id/appRoleAssignments" \
  --query "value[?resourceId=='$graph_sp'].appRoleId" | tsv) ||
  die "cannot read the app role assignments of $principal_id (is it the identity's object id, in this tenant?)"

echo "Microsoft Graph ($api) app roles for service principal $principal_id:"
granted=0
kept=0
for name in "${wanted[@]}"; do
  role_id=$(printf '%s\n' "$roles" | awk -F '\t' -v name="$name" '$1 == name { print $2; exit }')
  [[ -n "$role_id" ]] || die "Microsoft Graph defines no application permission $name"
  if printf '%s\n' "$assigned" | grep -qixF -- "$role_id"; then
    echo "  = $name (already granted; $(why "$name"))"
    kept=$((kept + 1))
    continue
  fi
  if [[ "$dry_run" == true ]]; then
    echo "  + $name (would grant; $(why "$name"))"
    continue
  fi
  body=$(printf '{"principalId":"%s","resourceId":"%s","appRoleId":"%s"}' "$principal_id" "$graph_sp" "$role_id")
  if ! error=$(graph --method post --url "$api/servicePrincipals/$principal_id/appRoleAssignments" \
    --headers 'Content-Type=application/json' --body "$body" 2>&1 >/dev/null); then
    # Assigned meanwhile, or beyond the first page of assignments read above.
    if grep -qi 'already exists' <<<"$error"; then
      echo "  = $name (already granted; $(why "$name"))"
      kept=$((kept + 1))
      continue
    fi
    printf '%s\n' "$error" >&2
    die "granting $name failed (granting Graph application permissions needs Privileged Role Administrator or Global Administrator)"
  fi
  echo "  + $name (granted; $(why "$name"))"
  granted=$((granted + 1))
done

if [[ "$dry_run" == true ]]; then
  echo "Dry run: nothing changed ($kept already granted)."
else
  echo "Granted $granted, already granted $kept."
  if [[ $granted -gt 0 ]]; then
    echo "The app sees new roles in its next Graph token; managed identity tokens are cached (up to 24 hours)."
  fi
fi
