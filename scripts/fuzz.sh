#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer on) into build-fuzz/ and runs each for a bounded
# time from its seed corpus in tests/fuzz/corpus/. New inputs are kept under
# build-fuzz/corpus/, never in the repository. Exits non-zero on any crash,
# leak, hang (-timeout) or sanitizer report.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30, all)
# LOGNURSE_FUZZ_RUNS=N stops each target after N inputs instead (the time still
# bounds it); with the fixed LOGNURSE_FUZZ_SEED (default 1) such a run is
# repeatable, which is what CI wants. LOGNURSE_FUZZ_RSS_MB (default 2048) is the memory
# limit; AddressSanitizer's bookkeeping of a run of millions of inputs can need more.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
build=${LOGNURSE_FUZZ_BUILD_DIR:-$root/build-fuzz}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ -DLOGNURSE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_targets

# Each target with its seed corpus and, where it has one, its dictionary.
declare -A corpus=(
  [logql_fuzz]=tests/logql/fuzz/corpus
  [push_json_fuzz]=tests/fuzz/corpus/push_json_fuzz
  [push_protobuf_fuzz]=tests/fuzz/corpus/push_protobuf_fuzz
  [otlp_protobuf_fuzz]=tests/fuzz/corpus/otlp_protobuf_fuzz
  [otlp_json_fuzz]=tests/fuzz/corpus/otlp_json_fuzz
  [host_config_fuzz]=tests/fuzz/corpus/host_config_fuzz
  [mcp_message_fuzz]=tests/fuzz/corpus/mcp_message_fuzz
  [websocket_frames_fuzz]=tests/fuzz/corpus/websocket_frames_fuzz
)
declare -A dictionary=(
  [logql_fuzz]=tests/logql/fuzz/logql.dict
  [otlp_json_fuzz]=tests/fuzz/otlp_json.dict
)
targets=("$@")
((${#targets[@]} > 0)) || targets=(logql_fuzz push_json_fuzz push_protobuf_fuzz otlp_protobuf_fuzz
                                   otlp_json_fuzz host_config_fuzz mcp_message_fuzz
                                   websocket_frames_fuzz)

for target in "${targets[@]}"; do
  binary=$(find "$build/tests" -type f -name "$target" -perm -u+x | head -n 1)
  [[ -n $binary ]] || { echo "fuzz: no binary for $target" >&2; exit 1; }
  [[ -n ${corpus[$target]:-} ]] || { echo "fuzz: unknown target $target" >&2; exit 2; }
  seeds="$root/${corpus[$target]}"
  dict=()
  [[ -n ${dictionary[$target]:-} ]] && dict=(-dict="$root/${dictionary[$target]}")
  work="$build/corpus/$target"
  # A repeatable run starts from the seeds alone, not from what earlier runs found.
  [[ -n ${LOGNURSE_FUZZ_RUNS:-} ]] && rm -rf "$work"
  mkdir -p "$work"
  echo "fuzz: $target for ${seconds}s"
  log="$build/$target.log"
  runs=()
  [[ -n ${LOGNURSE_FUZZ_RUNS:-} ]] && runs=(-runs="$LOGNURSE_FUZZ_RUNS")
  rc=0
  started=$SECONDS
  (cd "$build" && "$binary" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb="${LOGNURSE_FUZZ_RSS_MB:-2048}" \
    -seed="${LOGNURSE_FUZZ_SEED:-1}" "${runs[@]}" -print_final_stats=1 "${dict[@]}" \
    "$work" "$seeds") >"$log" 2>&1 || rc=$?
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
  echo "fuzz: $target ran $((SECONDS - started))s; corpus $(find "$work" -type f | wc -l) inputs" \
    "(seeds $(find "$seeds" -type f | wc -l))"
  if ((rc != 0)); then
    grep -E "^(==[0-9]+==|SUMMARY)" "$log" | head -n 20 >&2 || true
    echo "fuzz: $target FAILED (exit $rc; full output in $log, reproducer in $build)" >&2
    exit 1
  fi
done
