#!/usr/bin/env bash
# Installs what the tests need (etcd, Prometheus and chromium from Debian's packages, s3rver and Azurite from npm), builds, runs every test, and ends with
# one line "N passed, N failed". Exit status: 0 only when the build succeeded and no test failed.
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
# promtool and the prometheus server, for the alert rule tests.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# headless chromium, for the status page test (what a browser shows of the agent's page).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages) for the integration tests"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null \
    || { echo "could not install ${need[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi

# s3rver (npm) for the S3 tests, pinned by tests/tools/s3rver/package-lock.json; Node.js from Debian when missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing nodejs npm (Debian packages) for the S3 tests"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nodejs npm >/dev/null \
    || { echo "could not install nodejs npm"; echo "0 passed, 1 failed"; exit 1; }
fi
if [ ! -f tests/tools/s3rver/node_modules/s3rver/bin/s3rver.js ]; then
  echo "installing s3rver (npm ci) for the S3 tests"
  npm ci --prefix tests/tools/s3rver --no-audit --no-fund >/dev/null \
    || { echo "could not install s3rver (npm ci --prefix tests/tools/s3rver)"; echo "0 passed, 1 failed"; exit 1; }
fi
# Azurite (npm) for the Azure Blob tests, pinned by tests/tools/azurite/package-lock.json.
if [ ! -f tests/tools/azurite/node_modules/azurite/dist/src/blob/main.js ]; then
  echo "installing azurite (npm ci) for the Azure tests"
  npm ci --prefix tests/tools/azurite --no-audit --no-fund >/dev/null \
    || { echo "could not install azurite (npm ci --prefix tests/tools/azurite)"; echo "0 passed, 1 failed"; exit 1; }
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if ! dotnet build Ferry.sln -c Release 2>&1 | tee "$log" | grep -E "error|Build succeeded"; then
  :
fi
if ! grep -q "Build succeeded" "$log"; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# A hung test is dumped and killed after 5 minutes instead of eating the CI budget.
timeout 1500 dotnet test Ferry.sln -c Release --no-build --blame-hang-timeout 5m 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 17, Skipped: 0, ...".
summaries=$(grep -E '^(Passed|Failed)! +-' "$log")
passed=$(grep -Eo 'Passed: +[0-9]+' <<<"$summaries" | awk '{s += $2} END {print s + 0}')
failed=$(grep -Eo 'Failed: +[0-9]+' <<<"$summaries" | awk '{s += $2} END {print s + 0}')
assemblies=$(grep -cE '^(Passed|Failed)! +-' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # A crashed test host or an aborted run counts as a failure even when no test reported one.
  failed=1
fi
if [ "$assemblies" -lt 2 ]; then
  echo "expected results from 2 test assemblies, got $assemblies"
  [ "$failed" -eq 0 ] && failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
