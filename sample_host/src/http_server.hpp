#pragma once

// The host's HTTP listener: the REST routes of every catalog tool, MCP at
// /mcp, Loki's push and query API, OTLP logs, /ready and /api/plugins. Loopback by
// default.

#include <memory>
#include <string>

#include "auth.hpp"
#include "http_connection.hpp"
#include "lognurse/host_api/result.hpp"
#include "lognurse/registry/registry.hpp"
#include "mcp.hpp"
#include "mcp_http.hpp"
#include "plugin_watcher.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

struct HttpOptions {
  std::string listen = "127.0.0.1:8470";  ///< host:port; port 0 picks a free one
  std::size_t max_body_bytes = 64 * 1024 * 1024;
  /// Workers for requests; the listener adds one for each MCP event stream and Loki tail
  /// that may be open at once.
  std::size_t worker_threads = 8;
  /// A request must arrive whole within this time from its first byte.
  std::int64_t read_timeout_ms = 30'000;
  BearerAuth auth;  ///< off unless a token is configured
};

class HttpServer {
public:
  HttpServer(registry::Registry& registry, HttpOptions options);
  ~HttpServer();

  /// Binds the listener; returns the bound port.
  Result<int> bind();

  /// Serves until stop(); call bind() first.
  void run();

  /// Makes run() return. Safe from a signal-watching thread.
  void stop();

private:
  void install_routes();

  registry::Registry& registry_;
  HttpOptions options_;
  McpServer mcp_;
  McpHttpTransport mcp_http_;
  std::unique_ptr<HostHttpListener> server_;
  std::unique_ptr<PluginWatcher> watcher_;  ///< loads plugins dropped in while serving
};

/// Splits "host:port"; "[::1]:80" and ":8470" (→ 127.0.0.1) are accepted.
Result<std::pair<std::string, int>> parse_listen_address(const std::string& listen);

}  // namespace lognurse::host
