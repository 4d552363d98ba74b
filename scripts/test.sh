#!/usr/bin/env bash
# Installs everything, builds, and runs every test (unit and integration).
# usage: scripts/test.sh [extra cmake -D options, e.g. -DLOGNURSE_SANITIZE=ON]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/install-test-clients.sh"
export LOGNURSE_BUILD_DIR=${LOGNURSE_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DLOGNURSE_WERROR=${LOGNURSE_WERROR:-OFF} "$@"
cd "$LOGNURSE_BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 600
