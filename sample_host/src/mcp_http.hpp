#pragma once

// MCP's Streamable HTTP transport at /mcp: POST carries one JSON-RPC message
// and is answered with JSON (or one server-sent event when the client accepts
// only event streams); sessions are named by the Mcp-Session-Id header given
// out in the answer to initialize; GET opens a server stream for
// notifications; DELETE ends a session. Requests whose Origin is not local
// are refused, against DNS rebinding.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "mcp.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

struct McpHttpOptions {
  std::size_t max_sessions = 1000;
  std::size_t max_streams = 4;  ///< open GET streams; each holds a worker thread
  std::chrono::seconds session_idle_timeout{3600};
};

class McpHttpTransport {
public:
  McpHttpTransport(McpServer& server, registry::Registry& registry, McpHttpOptions options);

  /// Adds the /mcp routes to `http`.
  void install(httplib::Server& http);

  /// Whether an Origin header value may use the server: absent, or a
  /// loopback origin (localhost, 127.0.0.0/8, [::1]).
  static bool origin_allowed(const std::string& origin);

private:
  struct Session {
    std::string protocol_version;
    std::chrono::steady_clock::time_point last_used;
  };

  std::string new_session(const std::string& protocol_version);
  void expire_idle_sessions();

  McpServer& server_;
  registry::Registry& registry_;
  McpHttpOptions options_;
  std::mutex mutex_;
  std::map<std::string, Session> sessions_;
  std::atomic<std::size_t> open_streams_{0};
};

}  // namespace lognurse::host
