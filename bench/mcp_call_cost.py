#!/usr/bin/env python3
"""The host's own cost per MCP tools/call of nurse_query_logs returning 100 lines.

Starts the real sample_host on 127.0.0.1 with a fresh embedded store, pushes
1000 lines, then times N calls over Streamable HTTP and over stdio. The
host's cost of a call is its wall time minus the backend's query time
(stats.summary.execTime of the answer). The baseline is the same query on
Loki's /loki/api/v1/query_range route (backend plus HTTP and JSON, without MCP
or the Nurse tool), timed the same way. Baseline and MCP-over-HTTP calls
alternate, one each on its own keep-alive connection, so that both meet the
same load on a shared machine. The load average is printed before and after.

usage: bench/mcp_call_cost.py BUILD_DIR [CALLS [CONFIG]]   (default 10000 calls; CONFIG is a
       host YAML given to both hosts with --config, e.g. to compare settings)
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

QUERY = '{service_name="bench"}'


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


def summary(name, walls, backend):
    own = [w - b for w, b in zip(walls, backend)]
    return {"transport": name, "calls": len(walls),
            "wall_p50_ms": percentile(walls, 50) * 1e3, "wall_p99_ms": percentile(walls, 99) * 1e3,
            "host_p50_ms": percentile(own, 50) * 1e3, "host_p99_ms": percentile(own, 99) * 1e3}


def config_args(config):
    return ["--config", config] if config else []


def start_server(host, data, config):
    server = subprocess.Popen([host, *config_args(config), "--log-level", "warn", "serve",
                               "--listen", "127.0.0.1:0",
                               "--data-dir", data],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = server.stdout.readline()
        if line.startswith("listening on port "):
            return server, int(line.split()[-1])
    server.kill()
    raise RuntimeError("sample_host did not start")


def push_lines(port):
    now = time.time_ns() - 60 * 10**9
    values = [[str(now + i * 1000), f"GET /item/{i} 200 {i % 97}ms user=u{i % 13}"]
              for i in range(1000)]
    body = json.dumps({"streams": [{"stream": {"service_name": "bench"}, "values": values}]})
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/loki/api/v1/push", body, {"Content-Type": "application/json"})
    assert conn.getresponse().status == 204


def call_request(i):
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "nurse_query_logs",
                       "arguments": {"query": QUERY, "limit": 100, "since": "1h"}}}


def exec_time(structured):
    assert structured["metadata"]["lines_returned"] == 100, structured["metadata"]
    return float(structured["data"]["stats"]["summary"]["execTime"])


def mcp_http_session(port):
    """A keep-alive connection with an initialized MCP session, and its request headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}}
    conn.request("POST", "/mcp", json.dumps(init), headers)
    response = conn.getresponse()
    headers["Mcp-Session-Id"] = response.getheader("Mcp-Session-Id")
    response.read()
    return conn, headers


def bench_http_and_baseline(port, calls):
    """MCP tools/call over Streamable HTTP and the query_range baseline, alternating."""
    mcp, headers = mcp_http_session(port)
    base = http.client.HTTPConnection("127.0.0.1", port)
    path = "/loki/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": QUERY, "limit": 100, "since": "1h"})
    mcp_walls, mcp_backend, base_walls, base_backend = [], [], [], []
    for i in range(1, calls + 1):
        started = time.perf_counter()
        base.request("GET", path)
        answer = json.loads(base.getresponse().read())
        base_walls.append(time.perf_counter() - started)
        base_backend.append(float(answer["data"]["stats"]["summary"]["execTime"]))

        body = json.dumps(call_request(i))
        started = time.perf_counter()
        mcp.request("POST", "/mcp", body, headers)
        answer = json.loads(mcp.getresponse().read())
        mcp_walls.append(time.perf_counter() - started)
        mcp_backend.append(exec_time(answer["result"]["structuredContent"]))
    return [summary("loki-query_range (baseline)", base_walls, base_backend),
            summary("mcp-http", mcp_walls, mcp_backend)]


def bench_stdio(host, data, calls, config):
    proc = subprocess.Popen([host, *config_args(config), "--log-level", "warn", "mcp",
                             "--data-dir", data],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}}
    proc.stdin.write(json.dumps(init) + "\n")
    proc.stdout.readline()
    walls, backend = [], []
    for i in range(1, calls + 1):
        line = json.dumps(call_request(i)) + "\n"
        started = time.perf_counter()
        proc.stdin.write(line)
        answer = json.loads(proc.stdout.readline())
        walls.append(time.perf_counter() - started)
        backend.append(exec_time(answer["result"]["structuredContent"]))
    proc.stdin.close()
    proc.wait(timeout=30)
    return summary("mcp-stdio", walls, backend)


def main():
    build = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    config = sys.argv[3] if len(sys.argv) > 3 else None
    host = os.path.join(build, "bin", "sample_host")
    print(json.dumps({"load_average_before": os.getloadavg()}))
    with tempfile.TemporaryDirectory() as data:
        server, port = start_server(host, data, config)
        try:
            push_lines(port)
            results = bench_http_and_baseline(port, calls)
        finally:
            server.terminate()
            server.wait(timeout=30)
        results.append(bench_stdio(host, data, calls, config))
    base = results[0]
    for r in results:
        r["host_p99_vs_baseline"] = r["host_p99_ms"] / base["host_p99_ms"]
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    print(json.dumps({"load_average_after": os.getloadavg()}))


if __name__ == "__main__":
    main()
