#!/bin/sh
# azd prepackage hook of the `api` service (azure.yaml): lays out the Function App package in
# build/function, the service's `dist`, which azd then zips and deploys to Flex Consumption as is
# (`remoteBuild: false`). The same package as the README's manual deployment:
#   host.json, package.json, package-lock.json, dist/ and the production node_modules.
# The copied package.json has no scripts and no devDependencies: the Functions host reads only
# `main`, and a remote build (older azd versions turn it on for TypeScript on Flex Consumption)
# then has nothing to compile and installs the same production dependencies.
#
#   scripts/azd-package-function.sh [out-dir]      (default build/function)
#   SKIP_BUILD=1 ...                                uses the dist/ already built
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/function}
cd "$root"

if [ "${SKIP_BUILD:-}" != 1 ]; then
  npm run build
fi
main=$(node -p 'require("./package.json").main')
[ -f "$main" ] || { echo "azd-package-function: $main is missing: npm run build first" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
cp host.json package.json package-lock.json "$out/"
cp -R dist "$out/dist"
# Production dependencies only, exactly as locked; install scripts are not needed by any of them.
(cd "$out" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
node -e '
  const fs = require("node:fs");
  const file = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  delete pkg.scripts;
  delete pkg.devDependencies;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$out/package.json"
echo "azd-package-function: $out ready ($main, host.json, production node_modules)"
