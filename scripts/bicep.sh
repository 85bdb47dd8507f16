#!/usr/bin/env bash
# Restores the Bicep CLI from the NuGet package Azure.Bicep.CommandLine.linux-x64 (no other download)
# into .tools/bicep, then, unless --restore-only, builds and lints infra/main.bicep and
# infra/main.bicepparam, failing on any error or warning.
#
#   scripts/bicep.sh                 restore + build + lint (what CI runs)
#   scripts/bicep.sh --restore-only  restore and print the path of the bicep binary
#   BICEP_PATH=/path/to/bicep        skip the restore and use that binary
set -euo pipefail

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools/bicep"
PKG_ID="azure.bicep.commandline.linux-x64"

restore() {
  local pkgdir="$TOOLS/packages/$PKG_ID/$BICEP_VERSION"
  local bin
  mkdir -p "$TOOLS"
  # Test files (jest workers) and CI may restore at the same time: one restores, the others wait.
  exec 9>"$TOOLS/.restore.lock"
  flock 9
  bin="$(find "$pkgdir" -type f -name bicep 2>/dev/null | head -n 1 || true)"
  if [[ -z "$bin" ]]; then
    command -v dotnet >/dev/null || { echo "bicep.sh: dotnet is required to restore the Bicep CLI" >&2; exit 1; }
    mkdir -p "$TOOLS/restore"
    # A throwaway project whose only purpose is to make `dotnet restore` fetch the package.
    cat >"$TOOLS/restore/restore.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>netstandard2.0</TargetFramework>
    <NoWarn>\$(NoWarn);NU1701</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
CSPROJ
    dotnet restore "$TOOLS/restore/restore.csproj" --packages "$TOOLS/packages" --nologo -v quiet >&2
    bin="$(find "$pkgdir" -type f -name bicep | head -n 1 || true)"
    [[ -n "$bin" ]] || { echo "bicep.sh: no bicep binary in $pkgdir" >&2; exit 1; }
  fi
  chmod +x "$bin"
  ln -sf "$bin" "$TOOLS/bicep"
  echo "$TOOLS/bicep"
}

if [[ -n "${BICEP_PATH:-}" ]]; then
  BICEP="$BICEP_PATH"
else
  BICEP="$(restore)"
fi

if [[ "${1:-}" == "--restore-only" ]]; then
  echo "$BICEP"
  exit 0
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
check() {
  # bicep prints diagnostics on stderr as "<file>(l,c) : Warning|Error <code>: ..."; any of them fails.
  local log="$out/log"
  if ! "$BICEP" "$@" >"$log.out" 2>"$log"; then status=1; fi
  cat "$log" >&2
  if grep -Eq ' : (Warning|Error) ' "$log"; then status=1; fi
}
"$BICEP" --version
check build "$ROOT/infra/main.bicep" --outdir "$out"
check build-params "$ROOT/infra/main.bicepparam" --outfile "$out/main.parameters.json"
check lint "$ROOT/infra/main.bicep"
check lint "$ROOT/infra/main.bicepparam"
if [[ $status -ne 0 ]]; then
  echo "bicep.sh: build/lint reported errors or warnings (disable a kept warning in infra/bicepconfig.json with a reason)" >&2
  exit 1
fi
echo "bicep.sh: build and lint clean (0 errors, 0 warnings)"
