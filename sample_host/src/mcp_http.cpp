#include "mcp_http.hpp"

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http_connection.hpp"
#include "local_origin.hpp"
#include "lognurse/host_api/json.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

constexpr const char* kSessionHeader = "Mcp-Session-Id";
constexpr const char* kVersionHeader = "MCP-Protocol-Version";

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_rpc_error(httplib::Response& res, int status, int code, const std::string& message) {
  res.status = status;
  res.set_content(json{{"jsonrpc", "2.0"},
                       {"id", nullptr},
                       {"error", {{"code", code}, {"message", message}}}}
                      .dump(),
                  "application/json");
}

bool accepts_event_stream(const httplib::Request& req) {
  return req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
}

bool accepts_only_event_stream(const httplib::Request& req) {
  const auto accept = req.get_header_value("Accept");
  return accepts_event_stream(req) && accept.find("application/json") == std::string::npos &&
         accept.find("*/*") == std::string::npos;
}

/// Response::set_content without its copy of the body, which is often tens of kilobytes.
void set_body(httplib::Response& res, std::string body, const char* content_type) {
  res.body = std::move(body);
  res.headers.erase("Content-Type");
  res.set_header("Content-Type", content_type);
}

std::string sse_event(const std::string& data) { return "event: message\ndata: " + data + "\n\n"; }

}  // namespace

McpHttpOptions mcp_http_options_for(const std::string& listen) {
  McpHttpOptions options;
  options.allow_any_host = !is_loopback_listen_address(listen);
  return options;
}

McpHttpTransport::McpHttpTransport(McpServer& server, registry::Registry& registry,
                                   McpHttpOptions options)
    : server_(server), registry_(registry), options_(std::move(options)) {}

bool McpHttpTransport::refuse(const httplib::Request& req, httplib::Response& res) const {
  const auto origin = req.get_header_value("Origin");
  if (!origin_is_local(origin)) {
    send_rpc_error(res, 403, kInvalidRequest,
                   "Origin " + origin + " is not allowed: the MCP endpoint serves local origins "
                                        "only (localhost, 127.0.0.1, [::1])");
    return true;
  }
  const auto host = req.get_header_value("Host");
  if (!options_.allow_any_host && !host_is_local(host)) {
    send_rpc_error(res, 403, kInvalidRequest,
                   "Host " + host + " is not allowed: this listener is on a loopback address; "
                                    "use localhost, 127.0.0.1 or [::1]");
    return true;
  }
  return false;
}

std::string McpHttpTransport::new_session(const McpSession& state) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  char id[33];
  std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(generator()),
                static_cast<unsigned long long>(generator()));
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  // Clients that exit without DELETE leave their sessions behind: when they fill the table,
  // the one used least recently ends. Its client, if it comes back, gets 404 and starts a
  // new session, as the protocol has it do.
  if (sessions_.size() >= options_.max_sessions) {
    const auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
    ++sessions_ended_for_room_;
    // One line a minute at most, with how many ended since the last.
    if (now - last_room_log_ >= std::chrono::minutes(1)) {
      spdlog::info("MCP: {} sessions are open, the most kept; {} used least recently ended to "
                   "make room for new ones (the last idle for {} s)",
                   sessions_.size(), sessions_ended_for_room_,
                   std::chrono::duration_cast<std::chrono::seconds>(now - oldest->second.last_used)
                       .count());
      sessions_ended_for_room_ = 0;
      last_room_log_ = now;
    }
    sessions_.erase(oldest);
  }
  sessions_[id] = Session{state.protocol_version, state.log_level, now};
  return id;
}

void McpHttpTransport::expire_idle_sessions() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = (now - it->second.last_used > options_.session_idle_timeout) ? sessions_.erase(it)
                                                                       : std::next(it);
  }
}

void McpHttpTransport::install(httplib::Server& http) {
  http.Post("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
    if (!refuse(req, res)) post(req, res);
  });
  http.Get("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
    if (!refuse(req, res)) get(req, res);
  });
  http.Delete("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
    if (!refuse(req, res)) remove(req, res);
  });
}

void McpHttpTransport::post(const httplib::Request& req, httplib::Response& res) {
  json message;
  if (const auto problem = parse_json_text(req.body, message); !problem.empty()) {
    send_rpc_error(res, 400, kParseError, "parse error: the body is " + problem);
    return;
  }
  // Checked here as well as in McpServer, because the session logic below
  // reads the method before the server sees the message.
  if (!message.is_object()) {
    send_rpc_error(res, 400, kInvalidRequest,
                   "a JSON-RPC message must be an object (batches are not supported)");
    return;
  }
  if (message.contains("method") && !message["method"].is_string()) {
    send_rpc_error(res, 400, kInvalidRequest, "\"method\" must be a string");
    return;
  }
  const bool is_initialize = message.value("method", "") == "initialize";
  const std::string session_id = req.get_header_value(kSessionHeader);
  McpSession state;
  state.transport = "http";
  if (!is_initialize) {
    if (session_id.empty()) {
      send_rpc_error(res, 400, kInvalidRequest,
                     "missing Mcp-Session-Id header: send initialize first and repeat the "
                     "session id it returns");
      return;
    }
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) {
      send_rpc_error(res, 404, kInvalidRequest,
                     "unknown or expired session " + session_id + "; initialize again");
      return;
    }
    it->second.last_used = std::chrono::steady_clock::now();
    state.protocol_version = it->second.protocol_version;
    state.log_level = it->second.log_level;
  }
  const std::string version = req.get_header_value(kVersionHeader);
  if (!version.empty()) {
    const auto& supported = McpServer::supported_versions();
    if (std::find(supported.begin(), supported.end(), version) == supported.end()) {
      send_rpc_error(res, 400, kInvalidRequest,
                     "unsupported MCP-Protocol-Version " + version + "; this server speaks " +
                         supported[0] + ", " + supported[1] + ", " + supported[2] + " and " +
                         supported[3]);
      return;
    }
  }

  // A tool call whose client wants log messages is answered with an event
  // stream, so that they arrive while the tool runs; the call then happens in
  // the stream's content provider, on the same worker thread.
  const bool streams_logs = !is_initialize && message.is_object() &&
                            message.value("method", "") == "tools/call" &&
                            message.contains("id") && state.log_level && accepts_event_stream(req);
  if (streams_logs) {
    auto shared_message = std::make_shared<json>(std::move(message));
    auto shared_state = std::make_shared<McpSession>(std::move(state));
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, shared_message, shared_state](std::size_t, httplib::DataSink& sink) {
          shared_state->notify = [&sink](const json& notification) {
            const std::string event = sse_event(dump(notification));
            sink.write(event.data(), event.size());
          };
          auto response = server_.handle(*shared_message, *shared_state);
          shared_state->notify = nullptr;
          if (response) {
            const std::string event = sse_event(*response);
            sink.write(event.data(), event.size());
          }
          sink.done();
          return true;
        });
    return;
  }

  auto response = server_.handle(message, state);
  if (!response) {
    res.status = 202;  // notification or client response: accepted, no body
    return;
  }
  // A successful initialize is the one that agreed on a protocol version.
  if (is_initialize && !state.protocol_version.empty()) {
    expire_idle_sessions();
    res.set_header(kSessionHeader, new_session(state));
  } else if (!is_initialize && message.value("method", "") == "logging/setLevel") {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session_id);
    if (it != sessions_.end()) it->second.log_level = state.log_level;
  }
  if (accepts_only_event_stream(req)) {
    set_body(res, sse_event(*response), "text/event-stream");
  } else {
    set_body(res, std::move(*response), "application/json");
  }
}

void McpHttpTransport::remove(const httplib::Request& req, httplib::Response& res) {
  const std::string session_id = req.get_header_value(kSessionHeader);
  std::lock_guard lock(mutex_);
  if (session_id.empty() || sessions_.erase(session_id) == 0) {
    send_rpc_error(res, session_id.empty() ? 400 : 404, kInvalidRequest,
                   "DELETE /mcp needs the Mcp-Session-Id of a live session");
    return;
  }
  res.status = 204;
}

void McpHttpTransport::get(const httplib::Request& req, httplib::Response& res) {
  if (!accepts_event_stream(req)) {
    send_rpc_error(res, 406, kInvalidRequest,
                   "GET /mcp opens an event stream: send Accept: text/event-stream");
    return;
  }
  const std::string session_id = req.get_header_value(kSessionHeader);
  {
    std::lock_guard lock(mutex_);
    if (session_id.empty() || !sessions_.count(session_id)) {
      send_rpc_error(res, session_id.empty() ? 400 : 404, kInvalidRequest,
                     "GET /mcp needs the Mcp-Session-Id of a live session");
      return;
    }
  }
  if (open_streams_.fetch_add(1) >= options_.max_streams) {
    open_streams_.fetch_sub(1);
    send_rpc_error(res, 503, kInternalError,
                   "too many open MCP event streams; close one (at most " +
                       std::to_string(options_.max_streams) + ")");
    return;
  }
  // Each tick checks whether the session still exists and the tool list
  // changed; a comment line keeps proxies from closing the stream.
  auto generation = std::make_shared<std::uint64_t>(registry_.generation());
  auto ticks = std::make_shared<int>(0);
  const int fd = HostHttpListener::current_socket();
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, session_id, generation, ticks, fd](std::size_t, httplib::DataSink& sink) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        // A client that hung up frees the stream's place now, not at the next write that
        // fails (a keep-alive comment, up to 15 s later).
        if (fd >= 0) {
          pollfd peer{fd, POLLRDHUP, 0};
          if (::poll(&peer, 1, 0) > 0 && (peer.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
            return false;
          }
        }
        {
          std::lock_guard lock(mutex_);
          const auto session = sessions_.find(session_id);
          if (session == sessions_.end()) {
            sink.done();
            return true;
          }
          // A session with its event stream open is in use.
          session->second.last_used = std::chrono::steady_clock::now();
        }
        const auto current = registry_.generation();
        if (current != *generation) {
          *generation = current;
          const std::string event =
              sse_event(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
          return sink.write(event.data(), event.size());
        }
        if (++*ticks % 60 == 0) {
          const std::string comment = ": keep-alive\n\n";
          return sink.write(comment.data(), comment.size());
        }
        return sink.is_writable();
      },
      [this](bool) { open_streams_.fetch_sub(1); });
}

}  // namespace lognurse::host
