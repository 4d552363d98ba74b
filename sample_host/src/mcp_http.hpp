#pragma once

// MCP's Streamable HTTP transport at /mcp: POST carries one JSON-RPC message
// and is answered with JSON, or with an event stream when the client accepts
// one and the answer comes with notifications (log messages of a tool call) or
// when it accepts only event streams; sessions are named by the
// Mcp-Session-Id header given out in the answer to initialize; GET opens a
// server stream for notifications; DELETE ends a session. Requests whose Host
// or Origin is not local are refused, against DNS rebinding; the listener's
// bearer token (auth.hpp) covers /mcp like every other route.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "mcp.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace lognurse::host {

struct McpHttpOptions {
  /// Sessions kept at once; beyond, a new one ends the one used least recently.
  std::size_t max_sessions = 1000;
  std::size_t max_streams = 4;  ///< open GET streams; each holds a worker thread
  std::chrono::seconds session_idle_timeout{3600};
  /// Accept any Host header. Only for a listener on a non-loopback address,
  /// where clients reach the host by names the server cannot know.
  bool allow_any_host = false;
};

/// Options for a listener on `listen` (host:port): any Host header is accepted
/// unless the address is a loopback one. The bearer token, when configured, is
/// checked for every route of the listener (auth.hpp), /mcp included.
McpHttpOptions mcp_http_options_for(const std::string& listen);

class McpHttpTransport {
public:
  McpHttpTransport(McpServer& server, registry::Registry& registry, McpHttpOptions options);

  /// Adds the /mcp routes to `http`.
  void install(httplib::Server& http);

private:
  struct Session {
    std::string protocol_version;
    std::optional<McpLogLevel> log_level;
    std::chrono::steady_clock::time_point last_used;
  };

  /// Refuses foreign Host or Origin headers and missing tokens; true when it
  /// answered.
  bool refuse(const httplib::Request& req, httplib::Response& res) const;
  void post(const httplib::Request& req, httplib::Response& res);
  void get(const httplib::Request& req, httplib::Response& res);
  void remove(const httplib::Request& req, httplib::Response& res);

  std::string new_session(const McpSession& state);
  void expire_idle_sessions();

  McpServer& server_;
  registry::Registry& registry_;
  McpHttpOptions options_;
  std::mutex mutex_;
  std::map<std::string, Session> sessions_;
  std::size_t sessions_ended_for_room_ = 0;  ///< since last_room_log_
  std::chrono::steady_clock::time_point last_room_log_{};
  std::atomic<std::size_t> open_streams_{0};
};

}  // namespace lognurse::host
