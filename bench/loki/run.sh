#!/usr/bin/env bash
# Builds and runs the Loki plugin's push throughput benchmark (see
# push_throughput.cpp); extra arguments go to the benchmark.
# usage: bench/loki/run.sh [--batches N] [--entries N] [--rounds N] [--writers N]
#                          [--push-concurrency N] [--format json|protobuf|both]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${LOGNURSE_BUILD_DIR:-$root/build}
cmake --build "$build" --target loki_push_bench >/dev/null
LOGNURSE_BUILD_DIR=$build "$build/bench/loki_push_bench" "$@"
