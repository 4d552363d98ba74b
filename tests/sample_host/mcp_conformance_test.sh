#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# server mode) against the real sample_host's /mcp on 127.0.0.1, with the
# conformance fixture tools plugin loaded from an extra plugin directory.
# usage: mcp_conformance_test.sh BUILD_DIR FIXTURE_PLUGIN_DIR CLIENTS_DIR EXPECTED_FAILURES_YAML
set -euo pipefail
build=$1 fixtures=$2 clients=$3 expected=$4

if [[ ! -x $clients/node_modules/.bin/conformance ]]; then
  echo "conformance suite not installed: run scripts/install-test-clients.sh" >&2
  exit 1
fi

work=$(mktemp -d)
host_pid=
cleanup() {
  if [[ -n $host_pid ]]; then
    kill -TERM "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/host.yaml" <<YAML
plugin_dirs:
  - $fixtures
YAML

"$build/bin/sample_host" --config "$work/host.yaml" serve --listen 127.0.0.1:0 \
  --data-dir "$work/data" > "$work/stdout" 2> "$work/stderr" &
host_pid=$!

port=
for _ in $(seq 1 150); do
  port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$work/stdout")
  [[ -n $port ]] && break
  sleep 0.2
done
if [[ -z $port ]]; then
  echo "sample_host did not start:" >&2
  cat "$work/stderr" >&2
  exit 1
fi

cd "$clients"
status=0
timeout 240 node_modules/.bin/conformance server --url "http://127.0.0.1:$port/mcp" \
  --expected-failures "$expected" --output-dir "$work/results" || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- sample_host stderr (last 40 lines)" >&2
  tail -n 40 "$work/stderr" >&2
fi
exit $status
