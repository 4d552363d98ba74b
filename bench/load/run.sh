#!/usr/bin/env bash
# End-to-end load test of the real host: starts `sample_host serve` on
# 127.0.0.1 (embedded store in a fresh temporary data dir, ingestion rate limit
# raised) and drives it with wrk for a fixed time with three kinds of traffic
# at once, each over a bounded number of keep-alive connections:
#   push   Loki JSON pushes of distinct lines (push.lua)
#   query  Loki query_range, a filtered log query (query_range.lua)
#   tool   the nurse_query_logs REST tool, a metric query (tool.lua)
# It samples the host's RSS every second, and checks at the end that every
# acknowledged line is stored. It fails when any request errors or answers
# other than 2xx, when the host dies, when the lines stored differ from those
# acknowledged, or when the RSS after the warm-up is not flat within 10 % (the
# medians of its 5-second blocks).
#
# usage: bench/load/run.sh [--seconds N] [--warmup N] [--build DIR]
#          [--push-connections N] [--query-connections N] [--tool-connections N]
#          [--lines-per-push N]
# Defaults: 60 s, warm-up 15 s (a third of shorter runs), build/, 3 + 2 + 2
# connections (one for each of the host's 8 request workers, one left for the checks;
# more connections share the workers), 20 lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

seconds=60
warmup=
build=$root/build
push_connections=3
query_connections=2
tool_connections=2
lines_per_push=20
while (($# > 0)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --push-connections) push_connections=$2; shift 2 ;;
    --query-connections) query_connections=$2; shift 2 ;;
    --tool-connections) tool_connections=$2; shift 2 ;;
    --lines-per-push) lines_per_push=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "load: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for value in "$seconds" "$push_connections" "$query_connections" "$tool_connections" \
             "$lines_per_push" ${warmup:+"$warmup"}; do
  [[ $value =~ ^[0-9]+$ ]] || { echo "load: $value is not a whole number" >&2; exit 2; }
done
((seconds >= 3 && seconds <= 600)) || { echo "load: --seconds must be 3 to 600" >&2; exit 2; }
((push_connections + query_connections + tool_connections <= 256)) ||
  { echo "load: at most 256 connections in all" >&2; exit 2; }
if [[ -z $warmup ]]; then
  warmup=15
  ((seconds >= 45)) || warmup=$((seconds / 3))
fi
((warmup < seconds)) || { echo "load: --warmup must be shorter than the run" >&2; exit 2; }
command -v wrk >/dev/null || { echo "load: wrk is missing (scripts/install-deps.sh)" >&2; exit 1; }
command -v jq >/dev/null || { echo "load: jq is missing (scripts/install-deps.sh)" >&2; exit 1; }
host=$build/bin/sample_host
[[ -x $host ]] || { echo "load: no $host; run scripts/build.sh first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/lognurse-load.XXXXXX")
host_pid=
sampler_pid=
cleanup() {
  [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null || true
  if [[ -n $host_pid ]]; then
    kill "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/host.yaml" <<YAML
server:
  listen: 127.0.0.1:0
  data_dir: $work/data
logging:
  level: warn
plugins:
  local_store:
    limits:
      ingestion_rate_mb: 100000
      ingestion_rate_burst_size_mb: 100000
YAML
"$host" --config "$work/host.yaml" serve >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$work/host.out")
  [[ -n $port ]] && break
  kill -0 "$host_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $port ]] || { echo "load: the host did not start:" >&2; cat "$work/host.err" >&2; exit 1; }
base=http://127.0.0.1:$port
echo "load: host pid $host_pid on $base; ${seconds}s, warm-up ${warmup}s;" \
  "connections push $push_connections, query $query_connections, tool $tool_connections"

# One RSS sample a second while the traffic runs: VmRSS, and its anonymous, file and
# shared-memory parts (KiB), to tell the heap from SQLite's mapped files.
(
  for ((i = 0; i <= seconds; i++)); do
    awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ {printf "%s ", $2} END {print ""}' \
      "/proc/$host_pid/status" 2>/dev/null || echo 0 0 0 0
    sleep 1
  done
) >"$work/rss" &
sampler_pid=$!

export LOGNURSE_LOAD_DIR=$here LOGNURSE_LOAD_LINES=$lines_per_push
run_wrk() {  # kind connections script
  wrk -t "$2" -c "$2" -d "${seconds}s" --timeout 10s -s "$here/$3" "$base" >"$work/$1.out" 2>&1
}
run_wrk push "$push_connections" push.lua & push_job=$!
run_wrk query "$query_connections" query_range.lua & query_job=$!
run_wrk tool "$tool_connections" tool.lua & tool_job=$!
failed=0
for job in $push_job $query_job $tool_job; do wait "$job" || failed=1; done
wait "$sampler_pid" || true
sampler_pid=

cpu_ticks=$(awk '{print $14 + $15}' "/proc/$host_pid/stat" 2>/dev/null || echo 0)
if ! kill -0 "$host_pid" 2>/dev/null; then
  echo "load: FAILED: the host died:" >&2
  tail -n 20 "$work/host.err" >&2
  exit 1
fi
((failed == 0)) || { echo "load: FAILED: wrk failed" >&2; cat "$work"/*.out >&2; exit 1; }

result() { sed -n 's/^RESULT //p' "$work/$1.out"; }
for kind in push query tool; do
  [[ -n $(result "$kind") ]] || { echo "load: FAILED: no result from $kind" >&2; cat "$work/$kind.out" >&2; exit 1; }
done

echo
echo "| kind | connections | requests | requests/s | p50 | p90 | p99 | max | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
errors=0
for kind in push query tool; do
  connections_var=${kind}_connections
  result "$kind" | jq -r --arg kind "$kind" --arg c "${!connections_var}" '
    def ms: (. / 1000 * 100 | round / 100 | tostring) + " ms";
    "| \($kind) | \($c) | \(.requests) | \(.requests / .seconds | round) | \(.p50_us | ms) | " +
    "\(.p90_us | ms) | \(.p99_us | ms) | \(.max_us | ms) | \(.non_2xx) | " +
    "\(.connect_errors + .read_errors + .write_errors + .timeouts) |"'
  bad=$(result "$kind" | jq '.non_2xx + .connect_errors + .read_errors + .write_errors + .timeouts')
  if ((bad > 0)); then
    echo "load: $kind had $bad failed requests (last bad status $(result "$kind" | jq .last_bad_status))" >&2
    errors=1
  fi
done

# Every acknowledged line is stored; pushes still in flight when wrk stopped may add some.
pushes=$(result push | jq .requests)
push_seconds=$(result push | jq .seconds)
stored=$(curl -sf --max-time 30 -G "$base/loki/api/v1/query" \
  --data-urlencode 'query=sum(count_over_time({service_name="load"}[1h]))' |
  jq -r '.data.result[0].value[1] // "0"')
acknowledged=$((pushes * lines_per_push))
in_flight=$((push_connections * lines_per_push))
echo
echo "lines acknowledged $acknowledged ($(jq -n "$acknowledged / $push_seconds | round") lines/s)," \
  "stored $stored; host CPU $(jq -n "$cpu_ticks / $(getconf CLK_TCK)") s in ${seconds} s"
if ((stored < acknowledged || stored > acknowledged + in_flight)); then
  echo "load: FAILED: $stored lines stored for $acknowledged acknowledged" >&2
  errors=1
fi

# RSS after the warm-up is flat within 10 %: the medians of its 5-second blocks (which
# smooth out the memory of requests in flight at a sample) differ by at most 10 % of the
# smallest. A steady growth, as from a leak, moves the medians; a burst does not.
series() {  # column of $work/rss, in MiB
  awk -v c="$1" '{printf "%.1f ", $c / 1024}' "$work/rss"
}
echo "RSS MiB, one sample a second: $(series 1)"
echo "  of which anonymous: $(series 2)"
echo "  file-backed: $(series 3)"
echo "  shared memory: $(series 4)"
read -r min max medians < <(awk -v warmup="$warmup" '
  NR > warmup { block[n++] = $1 }
  END {
    for (start = 0; start < n; start += 5) {
      m = 0
      for (i = start; i < start + 5 && i < n; i++) v[m++] = block[i]
      for (i = 1; i < m; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
        t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
      }
      median = v[int((m - 1) / 2)]
      list = list sprintf("%.1f ", median / 1024)
      if (start == 0 || median < lo) lo = median
      if (start == 0 || median > hi) hi = median
    }
    print lo + 0, hi + 0, list
  }' "$work/rss")
spread=$(jq -n "($max - $min) * 100 / $min | . * 10 | round / 10")
echo "RSS after ${warmup}s, medians of 5 s: ${medians}(spread ${spread} %)"
if ((min <= 0 || (max - min) * 10 > min)); then
  echo "load: FAILED: RSS after the warm-up is not flat within 10 %" >&2
  errors=1
fi

((errors == 0)) || exit 1
echo "load: passed"
