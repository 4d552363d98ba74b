#include "mcp_http.hpp"

#include <random>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

namespace lognurse::host {

using nlohmann::json;

namespace {

constexpr const char* kSessionHeader = "Mcp-Session-Id";
constexpr const char* kVersionHeader = "MCP-Protocol-Version";

void send_rpc_error(httplib::Response& res, int status, int code, const std::string& message) {
  res.status = status;
  res.set_content(json{{"jsonrpc", "2.0"},
                       {"id", nullptr},
                       {"error", {{"code", code}, {"message", message}}}}
                      .dump(),
                  "application/json");
}

bool accepts_only_event_stream(const httplib::Request& req) {
  const auto accept = req.get_header_value("Accept");
  return accept.find("text/event-stream") != std::string::npos &&
         accept.find("application/json") == std::string::npos &&
         accept.find("*/*") == std::string::npos;
}

std::string host_of_origin(const std::string& origin) {
  // scheme://host[:port]
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string::npos) return "";
  std::string rest = origin.substr(scheme_end + 3);
  const auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    return close == std::string::npos ? "" : rest.substr(0, close + 1);
  }
  return rest.substr(0, rest.find(':'));
}

}  // namespace

McpHttpTransport::McpHttpTransport(McpServer& server, registry::Registry& registry,
                                   McpHttpOptions options)
    : server_(server), registry_(registry), options_(options) {}

bool McpHttpTransport::origin_allowed(const std::string& origin) {
  if (origin.empty()) return true;
  const std::string host = host_of_origin(origin);
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::string McpHttpTransport::new_session(const std::string& protocol_version) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  char id[33];
  std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(generator()),
                static_cast<unsigned long long>(generator()));
  std::lock_guard lock(mutex_);
  sessions_[id] = Session{protocol_version, std::chrono::steady_clock::now()};
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
    if (!origin_allowed(req.get_header_value("Origin"))) {
      send_rpc_error(res, 403, kInvalidRequest,
                     "Origin " + req.get_header_value("Origin") +
                         " is not allowed: the MCP endpoint serves local origins only");
      return;
    }
    json message;
    try {
      message = json::parse(req.body);
    } catch (const json::parse_error& e) {
      send_rpc_error(res, 400, kParseError,
                     "parse error: the body is not valid JSON (byte " + std::to_string(e.byte) + ")");
      return;
    }
    const bool is_initialize = message.is_object() && message.value("method", "") == "initialize";
    const std::string session_id = req.get_header_value(kSessionHeader);
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
    }
    const std::string version = req.get_header_value(kVersionHeader);
    if (!version.empty()) {
      const auto& supported = McpServer::supported_versions();
      if (std::find(supported.begin(), supported.end(), version) == supported.end()) {
        send_rpc_error(res, 400, kInvalidRequest, "unsupported MCP-Protocol-Version " + version);
        return;
      }
    }

    auto response = server_.handle(message);
    if (!response) {
      res.status = 202;  // notification or client response: accepted, no body
      return;
    }
    if (is_initialize && response->contains("result")) {
      expire_idle_sessions();
      {
        std::lock_guard lock(mutex_);
        if (sessions_.size() >= options_.max_sessions) {
          send_rpc_error(res, 503, kInternalError,
                         "too many MCP sessions; end unused ones with DELETE /mcp");
          return;
        }
      }
      res.set_header(kSessionHeader,
                     new_session((*response)["result"].value("protocolVersion", "")));
    }
    const std::string body = response->dump(-1, ' ', false, json::error_handler_t::replace);
    if (accepts_only_event_stream(req)) {
      res.set_content("event: message\ndata: " + body + "\n\n", "text/event-stream");
    } else {
      res.set_content(body, "application/json");
    }
  });

  http.Delete("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
    if (!origin_allowed(req.get_header_value("Origin"))) {
      send_rpc_error(res, 403, kInvalidRequest, "Origin not allowed");
      return;
    }
    const std::string session_id = req.get_header_value(kSessionHeader);
    std::lock_guard lock(mutex_);
    if (session_id.empty() || sessions_.erase(session_id) == 0) {
      send_rpc_error(res, session_id.empty() ? 400 : 404, kInvalidRequest,
                     "DELETE /mcp needs the Mcp-Session-Id of a live session");
      return;
    }
    res.status = 204;
  });

  http.Get("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
    if (!origin_allowed(req.get_header_value("Origin"))) {
      send_rpc_error(res, 403, kInvalidRequest, "Origin not allowed");
      return;
    }
    if (req.get_header_value("Accept").find("text/event-stream") == std::string::npos) {
      send_rpc_error(res, 406, kInvalidRequest, "GET /mcp opens an event stream: send "
                                                "Accept: text/event-stream");
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
      send_rpc_error(res, 503, kInternalError, "too many open MCP event streams");
      return;
    }
    // Each tick checks whether the session still exists and the tool list
    // changed; a comment line keeps proxies from closing the stream.
    auto generation = std::make_shared<std::uint64_t>(registry_.generation());
    auto ticks = std::make_shared<int>(0);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, session_id, generation, ticks](std::size_t, httplib::DataSink& sink) {
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          {
            std::lock_guard lock(mutex_);
            if (!sessions_.count(session_id)) {
              sink.done();
              return true;
            }
          }
          const auto current = registry_.generation();
          if (current != *generation) {
            *generation = current;
            const std::string event =
                "event: message\ndata: "
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
            return sink.write(event.data(), event.size());
          }
          if (++*ticks % 60 == 0) {
            const std::string comment = ": keep-alive\n\n";
            return sink.write(comment.data(), comment.size());
          }
          return sink.is_writable();
        },
        [this](bool) { open_streams_.fetch_sub(1); });
  });
}

}  // namespace lognurse::host
