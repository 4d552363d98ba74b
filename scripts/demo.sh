#!/usr/bin/env bash
# The main job, end to end on the embedded store: installs, builds, produces
# real logs on this machine (a real nginx on loopback serving a few hundred
# requests, plus dpkg and apt logs from /var/log), ingests them, and asks the
# Nurse tools about them over REST, MCP and the CLI.
# usage: scripts/demo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
export LOGNURSE_BUILD_DIR=${LOGNURSE_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"

host="$LOGNURSE_BUILD_DIR/bin/sample_host"
demo="$LOGNURSE_BUILD_DIR/demo"
rm -rf "$demo"
mkdir -p "$demo"
data="$demo/data"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Real nginx on 127.0.0.1 serving 300 requests"
"$root/scripts/nginx-traffic.sh" "$demo/nginx" 300 >/dev/null
wc -l "$demo/nginx/access.log" "$demo/nginx/error.log"

step "Ingest nginx, dpkg and apt logs into the embedded store ($data)"
"$host" --log-level warn ingest --data-dir "$data" --labels service_name=nginx,log=access "$demo/nginx/access.log"
"$host" --log-level warn ingest --data-dir "$data" --labels service_name=nginx,log=error "$demo/nginx/error.log"
for f in /var/log/dpkg.log /var/log/apt/history.log /var/log/alternatives.log; do
  if [[ -r $f && -s $f ]]; then
    name=$(basename "$(dirname "$f")")
    [[ $name == log ]] && name=$(basename "$f" .log)
    "$host" --log-level warn ingest --data-dir "$data" --labels "service_name=$name" "$f"
  fi
done

step "Plugins"
"$host" plugins --data-dir "$data" 2>/dev/null

step "Start the host (REST, MCP and Loki API on one loopback listener)"
"$host" serve --data-dir "$data" --listen 127.0.0.1:0 >"$demo/serve.out" 2>"$demo/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on port" "$demo/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on port //p' "$demo/serve.out")
base="http://127.0.0.1:$port"
echo "listening on $base"

step "GET /api/nurse/logs/aggregation"
curl -s "$base/api/nurse/logs/aggregation" | jq '{status, backend, latency_ms, volume}'

step "POST /api/nurse/logs/query: nginx 404s, newest 5"
curl -s -X POST "$base/api/nurse/logs/query" -H 'Content-Type: application/json' \
  -d '{"query":"{service_name=\"nginx\", log=\"access\"} |= \"\\\" 404 \"","limit":5}' \
  | jq '{lines: [.data.result[].values[][1]], metadata}'

step "POST /api/nurse/logs/search: package installs in dpkg.log (last 24 hours)"
curl -s -X POST "$base/api/nurse/logs/search" -H 'Content-Type: application/json' \
  -d '{"filters":{"service":"dpkg","contains":" install "},"time_range":{"since":"24h"},"limit":5}' \
  | jq '{query, lines: [.data.result[].values[][1]], metadata: .metadata | {lines_returned, truncated}}'

step "GET /api/nurse/logs/metrics (last hour)"
curl -s "$base/api/nurse/logs/metrics?since=1h" | jq .data

step "MCP over HTTP: initialize a session, then tools/call nurse_search_logs for nginx errors"
mcp=(-s -X POST "$base/mcp" -H 'Content-Type: application/json'
     -H 'Accept: application/json, text/event-stream')
session=$(curl "${mcp[@]}" -D - -o /dev/null \
  -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"demo","version":"1"}}}' \
  | tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
echo "Mcp-Session-Id: $session"
curl "${mcp[@]}" -H "Mcp-Session-Id: $session" -H 'MCP-Protocol-Version: 2025-06-18' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nurse_search_logs","arguments":{"filters":{"service":"nginx","regex":"\\[(error|warn)\\]"},"limit":3}}}' \
  | jq '{isError: .result.isError, query: .result.structuredContent.query, lines: [.result.structuredContent.data.result[].values[][1]]}'

kill $pid; wait $pid 2>/dev/null || true
trap - EXIT

step "CLI: sample_host query (the same store, no server needed)"
"$host" query --data-dir "$data" '{service_name="nginx"} |~ "POST /(teapot|forbidden)"' --limit 5 2>/dev/null

step "Done. Try it yourself:"
cat <<TXT
  $host serve --data-dir $data          # then curl http://127.0.0.1:8470/api/nurse/logs/aggregation
  $host mcp --data-dir $data            # MCP over stdio for an agent
  $host call nurse_get_log_metrics '{"since":"24h"}' --data-dir $data
TXT
