#include "http_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "host_metrics.hpp"
#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "openapi.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, const Error& error) {
  res.status = error.http_status();
  res.set_content(dump({{"status", "error"},
                        {"error", {{"code", error.code}, {"message", error.message}}}}),
                  kJson);
}

/// Loki's API answers errors as plain text with the status code.
void send_loki_error(httplib::Response& res, const Error& error) {
  res.status = error.http_status();
  res.set_content(error.message + "\n", "text/plain; charset=utf-8");
}

std::string tenant_of(const httplib::Request& req) {
  const auto tenant = req.get_header_value("X-Scope-OrgID");
  return tenant.empty() ? std::string(kDefaultTenant) : tenant;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

/// Query parameters, plus form fields of a urlencoded POST body (Loki accepts both).
std::multimap<std::string, std::string> request_params(const httplib::Request& req) {
  std::multimap<std::string, std::string> params(req.params.begin(), req.params.end());
  if (req.method == "POST" &&
      req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0) {
    std::string_view body = req.body;
    std::size_t pos = 0;
    while (pos <= body.size()) {
      const auto amp = body.find('&', pos);
      const auto pair = body.substr(pos, amp == std::string_view::npos ? body.size() - pos : amp - pos);
      if (!pair.empty()) {
        const auto eq = pair.find('=');
        params.emplace(url_decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1)));
      }
      if (amp == std::string_view::npos) break;
      pos = amp + 1;
    }
  }
  return params;
}

std::optional<std::string> param(const std::multimap<std::string, std::string>& params,
                                 const std::string& key) {
  const auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  return it->second;
}

/// Reads start/end/since as Loki does: end defaults to now, start to end - since
/// (since defaults to 1h).
Result<TimeRange> loki_range(const std::multimap<std::string, std::string>& params) {
  TimeRange range;
  range.end_ns = now_ns();
  if (auto end = param(params, "end")) {
    auto parsed = parse_time(*end);
    if (!parsed) return invalid_argument("loki.bad_param", "invalid end: " + parsed.error().message);
    range.end_ns = parsed.value();
  }
  std::int64_t since = 3600 * kNanosPerSecond;
  if (auto text = param(params, "since")) {
    auto parsed = parse_duration(*text);
    if (!parsed) return invalid_argument("loki.bad_param", "invalid since: " + parsed.error().message);
    since = parsed.value();
  }
  range.start_ns = range.end_ns - since;
  if (auto start = param(params, "start")) {
    auto parsed = parse_time(*start);
    if (!parsed) {
      return invalid_argument("loki.bad_param", "invalid start: " + parsed.error().message);
    }
    range.start_ns = parsed.value();
  }
  if (range.end_ns < range.start_ns) {
    return invalid_argument("loki.bad_param",
                            "the end timestamp must not be before the start time");
  }
  return range;
}

/// Converts REST query parameters to tool arguments: digit-only values
/// become integers, everything else stays a string.
json params_to_arguments(const httplib::Request& req) {
  json arguments = json::object();
  for (const auto& [key, value] : req.params) {
    const bool integer = !value.empty() && value.size() < 19 &&
                         value.find_first_not_of("0123456789") == std::string::npos;
    arguments[key] = integer ? json(std::stoll(value)) : json(value);
  }
  return arguments;
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
                            "listen address \"" + listen + "\" has an invalid port");
  }
  return std::make_pair(host, std::stoi(port_text));
}

HttpServer::HttpServer(registry::Registry& registry, HttpOptions options)
    : registry_(registry), options_(std::move(options)), mcp_(registry),
      mcp_http_(mcp_, registry, mcp_http_options_for(options_.listen)),
      server_(std::make_unique<httplib::Server>()) {
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(10000);
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_read_timeout(30, 0);
  const std::size_t workers = options_.worker_threads;
  server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
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
  if (bound <= 0) {
    return unavailable("http.bind_failed", "cannot listen on " + options_.listen +
                                               " (in use, or not a local address); choose another "
                                               "with --listen");
  }
  return bound;
}

void HttpServer::run() { server_->listen_after_bind(); }

void HttpServer::stop() { server_->stop(); }

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
      json arguments = json::object();
      if (req.method == "GET") {
        arguments = params_to_arguments(req);
      } else if (!req.body.empty()) {
        try {
          arguments = json::parse(req.body);
        } catch (const json::parse_error& e) {
          send_error(res, invalid_argument("http.malformed_json",
                                           "request body is not valid JSON at byte " +
                                               std::to_string(e.byte) + "; send an object of "
                                                                        "the tool's arguments"));
          return;
        }
      }
      auto result = registry_.call_tool(name, arguments);
      if (!result) {
        send_error(res, result.error());
        return;
      }
      res.set_content(dump(result.value()), kJson);
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

  server.Post("/loki/api/v1/push", [this](const httplib::Request& req, httplib::Response& res) {
    const auto content_type = req.get_header_value("Content-Type");
    if (!content_type.empty() && content_type.rfind("application/json", 0) != 0) {
      send_loki_error(res, invalid_argument("push.unsupported_content_type",
                                            "unsupported Content-Type \"" + content_type +
                                                "\"; send application/json"));
      return;
    }
    auto request = push_request_from_json(req.body, tenant_of(req));
    if (!request) {
      send_loki_error(res, request.error());
      return;
    }
    auto backend = registry_.log_aggregation();
    if (!backend) {
      send_loki_error(res, unavailable("push.no_backend", "no log_aggregation backend is loaded"));
      return;
    }
    auto pushed = backend->push(request.value());
    if (!pushed) {
      spdlog::warn("push refused for tenant {}: {}: {}", request.value().tenant,
                   pushed.error().code, pushed.error().message);
      send_loki_error(res, pushed.error());
      return;
    }
    res.status = 204;
  });

  auto query_range = [this](const httplib::Request& req, httplib::Response& res) {
    const auto params = request_params(req);
    const auto text = param(params, "query");
    if (!text || text->empty()) {
      send_loki_error(res, invalid_argument("loki.bad_param", "query parameter \"query\" is required"));
      return;
    }
    auto range = loki_range(params);
    if (!range) {
      send_loki_error(res, range.error());
      return;
    }
    LogQuery query;
    query.tenant = tenant_of(req);
    query.logql = *text;
    query.range = range.value();
    if (auto limit = param(params, "limit")) {
      if (limit->empty() || limit->find_first_not_of("0123456789") != std::string::npos ||
          limit->size() > 9) {
        send_loki_error(res, invalid_argument("loki.bad_param", "invalid limit \"" + *limit + "\""));
        return;
      }
      query.limit = std::stoul(*limit);
    }
    if (auto direction = param(params, "direction")) {
      if (*direction == "forward" || *direction == "FORWARD") {
        query.direction = Direction::forward;
      } else if (*direction != "backward" && *direction != "BACKWARD") {
        send_loki_error(res, invalid_argument("loki.bad_param", "invalid direction \"" +
                                                                    *direction + "\""));
        return;
      }
    }
    if (auto step = param(params, "step")) {
      auto parsed = parse_duration(*step);
      if (!parsed || parsed.value() <= 0) {
        send_loki_error(res, invalid_argument("loki.bad_param", "invalid step \"" + *step + "\""));
        return;
      }
      query.step_ns = parsed.value();
    }
    auto backend = registry_.log_aggregation();
    if (!backend) {
      send_loki_error(res, unavailable("query.no_backend", "no log_aggregation backend is loaded"));
      return;
    }
    auto result = backend->query(query);
    if (!result) {
      send_loki_error(res, result.error());
      return;
    }
    res.set_content(dump({{"status", "success"}, {"data", query_result_to_json(result.value())}}),
                    kJson);
  };
  server.Get("/loki/api/v1/query_range", query_range);
  server.Post("/loki/api/v1/query_range", query_range);

  auto labels = [this](const httplib::Request& req, httplib::Response& res) {
    const auto params = request_params(req);
    auto range = loki_range(params);
    if (!range) {
      send_loki_error(res, range.error());
      return;
    }
    auto backend = registry_.log_aggregation();
    if (!backend) {
      send_loki_error(res, unavailable("query.no_backend", "no log_aggregation backend is loaded"));
      return;
    }
    // Routes with a capture group are label-value routes: /label/<name>/values.
    Result<std::vector<std::string>> names =
        req.matches.size() > 1
            ? backend->label_values(tenant_of(req), url_decode(req.matches[1].str()), range.value())
            : backend->labels(tenant_of(req), range.value());
    if (!names) {
      send_loki_error(res, names.error());
      return;
    }
    res.set_content(dump({{"status", "success"}, {"data", names.value()}}), kJson);
  };
  server.Get("/loki/api/v1/labels", labels);
  server.Post("/loki/api/v1/labels", labels);
  server.Get(R"(/loki/api/v1/label/([^/]+)/values)", labels);

  // Last: the listener tries routes in order, and this one matches all of /api/.
  install_late_tool_routes(server, registry_);
}

}  // namespace lognurse::host
