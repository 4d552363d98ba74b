#include "host_metrics.hpp"

#include <httplib.h>

#include "lognurse/host_api/time.hpp"
#include "prometheus_text.hpp"

namespace lognurse::host {

namespace {

using prometheus::escape_label_value;

const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1,    2.5, 5, 10};

thread_local std::chrono::steady_clock::time_point request_started;

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name,
                       const std::string& labels) const {
  prometheus::append_histogram(out, name, labels, bounds_, counts_, sum_);
}

HostMetrics::HostMetrics() : health_latency_(kLatencyBounds) {}

HostMetrics& HostMetrics::instance() {
  static HostMetrics metrics;
  return metrics;
}

void HostMetrics::record_tool_call(const std::string& tool, const std::string& transport,
                                   const std::string& outcome, double seconds) {
  std::lock_guard lock(mutex_);
  ++calls_[{tool, transport, outcome}];
  call_latency_.try_emplace({tool, outcome}, kLatencyBounds).first->second.observe(seconds);
}

std::string HostMetrics::tool_of_route(registry::Registry& registry, const std::string& method,
                                       const std::string& path) {
  std::lock_guard lock(mutex_);
  if (routes_generation_ != registry.generation()) {
    routes_.clear();
    for (const auto& tool : registry.tools()) {
      if (!tool.spec.rest_path.empty()) {
        routes_[tool.spec.http_method + " " + tool.spec.rest_path] = tool.full_name;
      }
    }
    routes_generation_ = registry.generation();
  }
  const auto it = routes_.find(method + " " + path);
  return it == routes_.end() ? std::string() : it->second;
}

void HostMetrics::mark_request_start() { request_started = std::chrono::steady_clock::now(); }

void HostMetrics::install(httplib::Server& http, registry::Registry& registry,
                          std::chrono::seconds interval) {
  interval_ = interval;
  // Counted before the answer is written, so a client that has its answer
  // sees the call in the next scrape.
  http.set_post_routing_handler([this, &registry](const httplib::Request& req,
                                                  httplib::Response& res) {
    const std::string tool = tool_of_route(registry, req.method, req.path);
    if (tool.empty()) return;
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - request_started;
    record_tool_call(tool, "rest", res.status < 400 ? "ok" : "error", elapsed.count());
  });
  http.Get("/metrics", [this, &registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(registry), "text/plain; version=0.0.4; charset=utf-8");
  });
}

std::string HostMetrics::render(registry::Registry& registry) {
  std::string out;
  auto backend = registry.log_aggregation();
  const std::string name = backend ? backend->backend_name() : "none";
  bool up = false;
  double health_seconds = 0;
  std::optional<LogMetrics> volume;
  if (backend) {
    const Health health = backend->health();
    up = health.ready;
    health_seconds = health.latency_ms / 1000.0;
    const std::int64_t end = now_ns();
    const std::int64_t start = end - interval_.count() * kNanosPerSecond;
    auto counted = backend->metrics(kDefaultTenant, {start, end});
    if (counted) volume = counted.value();
  }

  std::lock_guard lock(mutex_);
  if (backend) {
    health_latency_.observe(health_seconds);
    if (!up) ++check_errors_[name];
  }
  const std::string backend_label = "backend=\"" + escape_label_value(name) + "\"";
  out += "# HELP lognurse_backend_up Whether the active log-aggregation backend is ready (1) or "
         "not (0), checked at scrape time.\n# TYPE lognurse_backend_up gauge\n";
  out += "lognurse_backend_up{" + backend_label + "} " + (up ? "1" : "0") + "\n";
  out += "# HELP lognurse_backend_check_seconds Latency of the backend health checks made at "
         "scrape time.\n# TYPE lognurse_backend_check_seconds histogram\n";
  health_latency_.render(out, "lognurse_backend_check_seconds", backend_label);
  out += "# HELP lognurse_backend_check_errors_total Health checks that found the backend not "
         "ready.\n# TYPE lognurse_backend_check_errors_total counter\n";
  out += "lognurse_backend_check_errors_total{" + backend_label + "} " +
         std::to_string(check_errors_[name]) + "\n";
  if (volume) {
    const std::string window = "window=\"" + format_duration(interval_.count() * kNanosPerSecond) +
                               "\"";
    out += "# HELP lognurse_log_lines_last_interval Lines of the default tenant stored in the "
           "last interval.\n# TYPE lognurse_log_lines_last_interval gauge\n";
    out += "lognurse_log_lines_last_interval{" + backend_label + "," + window + "} " +
           std::to_string(volume->lines) + "\n";
    out += "# HELP lognurse_log_bytes_last_interval Bytes of those lines.\n"
           "# TYPE lognurse_log_bytes_last_interval gauge\n";
    out += "lognurse_log_bytes_last_interval{" + backend_label + "," + window + "} " +
           std::to_string(volume->bytes) + "\n";
    out += "# HELP lognurse_log_error_lines_last_interval Lines of level error, critical or "
           "fatal in the last interval.\n# TYPE lognurse_log_error_lines_last_interval gauge\n";
    out += "lognurse_log_error_lines_last_interval{" + backend_label + "," + window + "} " +
           std::to_string(volume->error_lines) + "\n";
  }
  out += "# HELP lognurse_tool_calls_total Tool calls by tool, transport and outcome.\n"
         "# TYPE lognurse_tool_calls_total counter\n";
  for (const auto& [key, count] : calls_) {
    const auto& [tool, transport, outcome] = key;
    out += "lognurse_tool_calls_total{tool=\"" + escape_label_value(tool) + "\",transport=\"" +
           escape_label_value(transport) + "\",outcome=\"" + outcome + "\"} " +
           std::to_string(count) + "\n";
  }
  out += "# HELP lognurse_tool_call_seconds Tool call latency by tool and outcome.\n"
         "# TYPE lognurse_tool_call_seconds histogram\n";
  for (const auto& [key, histogram] : call_latency_) {
    histogram.render(out, "lognurse_tool_call_seconds",
                     "tool=\"" + escape_label_value(key.first) + "\",outcome=\"" + key.second +
                         "\"");
  }
  plugin_metrics_->render(out);
  return out;
}

}  // namespace lognurse::host
