#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer on) into build-fuzz/ and runs each for a bounded
# time from its seed corpus in tests/fuzz/corpus/. New inputs are kept under
# build-fuzz/corpus/, never in the repository. Exits non-zero on any crash,
# leak, hang (-timeout) or sanitizer report.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30, all)
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

targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in "$root"/tests/fuzz/corpus/*/ "$root"/tests/*/fuzz/corpus/*/; do
    [[ -d $dir ]] && targets+=("$(basename "$dir")")
  done
fi

for target in "${targets[@]}"; do
  binary=$(find "$build/tests" -type f -name "$target" -perm -u+x | head -n 1)
  [[ -n $binary ]] || { echo "fuzz: no binary for $target" >&2; exit 1; }
  seeds=$(find "$root/tests" -type d -path "*corpus/$target" | head -n 1)
  work="$build/corpus/$target"
  mkdir -p "$work"
  echo "fuzz: $target for ${seconds}s"
  log="$build/$target.log"
  rc=0
  (cd "$build" && "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" "$seeds") >"$log" 2>&1 || rc=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
  if ((rc != 0)); then
    grep -E "^(==[0-9]+==|SUMMARY)" "$log" | head -n 20 >&2 || true
    echo "fuzz: $target FAILED (exit $rc; full output in $log, reproducer in $build)" >&2
    exit 1
  fi
done
