#include "http_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "host_metrics.hpp"
#include "connection_gate.hpp"
#include "http_connection.hpp"
#include "ingest_routes.hpp"
#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "loki_query_api.hpp"
#include "local_origin.hpp"
#include "loki_tail.hpp"
#include "openapi.hpp"
#include "rest_tools.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";

/// Workers for requests whose body is read while they are served (chunked, or too large to
/// wait for in the connection gate): clients that send such bodies slowly can hold these
/// four until server.read_timeout, and no worker of the other requests.
constexpr std::size_t kBodyWorkers = 4;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, const Error& error) { send_rest_error(res, error); }

/// The error for a status that httplib set before any handler ran.
Error http_status_error(int status, const httplib::Request& req) {
  switch (status) {
    case 404:
      return not_found("http.not_found", "no route for " + req.method + " " + req.path +
                                             "; GET /api/plugins lists the tools' routes");
    case 413:
      return limit_exceeded("http.body_too_large",
                            "the request body is over the server.max_body_bytes limit; send "
                            "smaller batches");
    case 414:
      return limit_exceeded("http.uri_too_long",
                            "the request URI is too long; send long queries with POST and "
                            "form-encoded parameters");
    case 415:
      return invalid_argument("http.unsupported_media_type",
                              "the Content-Encoding or Content-Type is not supported");
    default:
      if (status >= 400 && status < 500) {
        return invalid_argument("http.bad_request",
                                "the request is malformed (HTTP " + std::to_string(status) +
                                    "): check its headers, its Content-Encoding and its body");
      }
      return internal_error("http.internal", "the server failed (HTTP " +
                                                 std::to_string(status) + ")");
  }
}

/// httplib decodes a compressed body whole, with no bound, before the handler of any route
/// but the ingest ones sees it: 256 KB of gzip would take 256 MB. Such a request is refused
/// before its body is read, and its connection closed, since the body is left unread.
bool refuse_unbounded_decoding(const httplib::Request& req, httplib::Response& res) {
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (encoding.empty() || encoding == "identity" || decodes_compressed_bodies(req.path)) {
    return false;
  }
  spdlog::warn("http {} {} refused: Content-Encoding {} on a route that takes only plain bodies",
               req.method, req.path, encoding);
  send_error(res, invalid_argument("http.unsupported_encoding",
                                   "Content-Encoding \"" + encoding +
                                       "\" is accepted only on /loki/api/v1/push and "
                                       "/otlp/v1/logs; send the body of " + req.path +
                                       " uncompressed"));
  res.status = 415;
  res.set_header("Connection", "close");
  return true;
}

}  // namespace

Result<std::pair<std::string, int>> parse_listen_address(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return invalid_argument("config.invalid_listen",
                            "listen address \"" + listen + "\" must be HOST:PORT, e.g. 127.0.0.1:8470");
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65535) {
    return invalid_argument("config.invalid_listen",
                            "listen address \"" + listen +
                                "\" has an invalid port; write HOST:PORT with a port from 0 "
                                "to 65535, e.g. 127.0.0.1:8470");
  }
  return std::make_pair(host, std::stoi(port_text));
}

HttpServer::HttpServer(registry::Registry& registry, HttpOptions options)
    : registry_(registry), options_(std::move(options)), mcp_(registry),
      mcp_http_(mcp_, registry, mcp_http_options_for(options_.listen)),
      server_(std::make_unique<HostHttpListener>()) {
  // httplib's default also sets SO_REUSEPORT, which lets a second host bind
  // the same port and silently take half the requests; SO_REUSEADDR alone
  // still allows a quick restart.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(10000);
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_read_timeout(options_.read_timeout_ms / 1000,
                            (options_.read_timeout_ms % 1000) * 1000);
  // A worker serves a request, and open MCP event streams and Loki tails hold theirs for as
  // long as they last; they get workers of their own, so that with every stream and tail
  // open, worker_threads are still left for requests. Connections wait for their requests
  // without a worker.
  const std::size_t workers =
      options_.worker_threads + mcp_http_options_for(options_.listen).max_streams +
      static_cast<std::size_t>(kMaxConcurrentTails);
  server_->start_workers(workers, kBodyWorkers);
  install_routes();
  watcher_ = std::make_unique<PluginWatcher>(registry_, std::chrono::milliseconds(500));
}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::bind() {
  auto address = parse_listen_address(options_.listen);
  if (!address) return address.error();
  const auto& [host, port] = address.value();
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (!server_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound > 0) server_->widen_accept_queue();
  if (bound <= 0) {
    return unavailable("http.bind_failed", "cannot listen on " + options_.listen +
                                               " (in use, or not a local address); choose another "
                                               "with --listen");
  }
  return bound;
}

void HttpServer::run() {
  server_->listen_after_bind();
  server_->close_connections();
}

void HttpServer::stop() {
  stop_loki_tails();
  server_->stop();
}

void HttpServer::install_routes() {
  auto& server = *server_;

  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                  std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("http {} {} failed: {}", req.method, req.path, what);
    send_error(res, internal_error("http.internal", what));
  });

  const bool loopback_listener = is_loopback_listen_address(options_.listen);
  server.set_pre_routing_handler([this, loopback_listener](const httplib::Request& req,
                                                           httplib::Response& res) {
    HostMetrics::mark_request_start();
    // httplib hands the handler its own (non-const) request as const; the body is read
    // after this handler, so this is the one place to say how to read it.
    HostHttpListener::frame_request_body(const_cast<httplib::Request&>(req));
    if (loopback_listener && req.path != "/mcp") {
      // /mcp refuses these itself, with JSON-RPC errors, whatever the listener's address.
      const std::string refusal =
          foreign_page_refusal(req.get_header_value("Origin"), req.get_header_value("Host"));
      if (!refusal.empty()) {
        spdlog::warn("http {} {} refused: {}", req.method, req.path, refusal);
        send_error(res, Error{ErrorKind::invalid_argument, "http.forbidden_origin", refusal});
        res.status = 403;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!BearerAuth::is_open_path(req.path) &&
        !options_.auth.allows(req.get_header_value("Authorization"))) {
      spdlog::warn("http {} {} refused: missing or wrong bearer token", req.method, req.path);
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, Error{ErrorKind::invalid_argument, "http.unauthorized",
                            "this host requires \"Authorization: Bearer <token>\" (the token "
                            "of server.auth_token_file or LOGNURSE_AUTH_TOKEN)"});
      res.status = 401;
      return httplib::Server::HandlerResponse::Handled;
    }
    return refuse_unbounded_decoding(req, res) ? httplib::Server::HandlerResponse::Handled
                                               : httplib::Server::HandlerResponse::Unhandled;
  });

  // Refusals that httplib makes itself (an unknown route, a URI or body over
  // its limits, a body it cannot decompress) get a body that says why.
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (HostHttpListener::request_over_limit()) {
      send_error(res, limit_exceeded("http.body_too_large",
                                     "the chunked request body is over the server.max_body_bytes "
                                     "limit; send smaller batches"));
      res.status = 413;
      if (!res.has_header("Connection")) res.set_header("Connection", "close");
      return;
    }
    if (const std::string problem = HostHttpListener::request_chunk_problem();
        !problem.empty()) {
      send_error(res, invalid_argument("http.bad_chunked_body",
                                       HostHttpListener::chunk_refusal(problem)));
      res.status = 400;
      if (!res.has_header("Connection")) res.set_header("Connection", "close");
      return;
    }
    if (HostHttpListener::request_timed_out()) {
      send_error(res, invalid_argument("http.request_timeout",
                                       request_timeout_message(std::chrono::milliseconds(
                                           options_.read_timeout_ms))));
      res.status = 408;
      if (!res.has_header("Connection")) res.set_header("Connection", "close");
      return;
    }
    if (!res.body.empty()) return;
    const int status = res.status;
    send_error(res, http_status_error(status, req));
    res.status = status;
  });

  server.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
    auto backend = registry_.log_aggregation();
    if (!backend) {
      res.status = 503;
      res.set_content("no log_aggregation backend loaded\n", "text/plain");
      return;
    }
    const Health health = backend->health();
    res.status = health.ready ? 200 : 503;
    res.set_content(health.ready ? "ready\n" : "not ready: " + health.detail + "\n", "text/plain");
  });

  server.Get("/api/plugins", [this](const httplib::Request&, httplib::Response& res) {
    json plugins = json::array();
    for (const auto& record : registry_.plugins()) {
      plugins.push_back({{"file", record.file},
                         {"status", record.loaded ? "loaded" : "refused"},
                         {"reason", record.reason},
                         {"name", record.name},
                         {"version", record.version},
                         {"tools", record.tools},
                         {"backends", record.backends}});
    }
    res.set_content(dump({{"status", "success"}, {"plugins", plugins}}), kJson);
  });

  // One route per catalog tool.
  for (const auto& tool : registry_.tools()) {
    if (tool.spec.rest_path.empty()) continue;
    const std::string name = tool.full_name;
    auto handler = [this, name](const httplib::Request& req, httplib::Response& res) {
      answer_tool_call(registry_, name, req, res);
    };
    if (tool.spec.http_method == "GET") {
      server.Get(tool.spec.rest_path, handler);
    } else {
      server.Post(tool.spec.rest_path, handler);
    }
  }

  mcp_http_.install(server);
  HostMetrics::instance().install(server, registry_);
  server.Get("/api/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump(openapi_document(registry_)), kJson);
  });
  for (const char* path : {"/ready", "/metrics", "/api/plugins", "/api/openapi.json"}) {
    refuse_other_methods(server, path, "GET");
  }

  install_ingest_routes(server, registry_, options_.max_body_bytes);

  install_loki_query_api(server, registry_);

  // Last: the listener tries routes in order, and this one matches all of /api/.
  install_late_tool_routes(server, registry_);
}

}  // namespace lognurse::host
