#!/usr/bin/env bash
# Installs every Debian 12 package lognurse needs to build, test and run its
# demonstration. Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libboost-dev libyaml-cpp-dev nlohmann-json3-dev libcurl4-openssl-dev
  libspdlog-dev catch2 libcpp-httplib-dev libsqlite3-dev libre2-dev libsnappy-dev libzstd-dev liblz4-dev
  zlib1g-dev libbrotli-dev
  clang libclang-rt-14-dev libbenchmark-dev
  sqlite3 curl jq ripgrep nginx wrk
)

# Node.js runs the third-party clients of the integration tests. A machine that
# already has a node with npm (for example from another repository) keeps it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
