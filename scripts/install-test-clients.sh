#!/usr/bin/env bash
# Installs the third-party npm clients that the integration tests drive
# (tests/clients/package.json, exact versions from package-lock.json).
# Idempotent: does nothing when node_modules matches the lock file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clients="$root/tests/clients"
stamp="$clients/node_modules/.package-lock.json"
if [[ -f $stamp && $stamp -nt $clients/package-lock.json ]]; then
  echo "install-test-clients: node_modules is up to date"
  exit 0
fi
cd "$clients"
npm ci --no-audit --no-fund --loglevel=error
