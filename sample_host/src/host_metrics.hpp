#pragma once

// The host's Prometheus metrics at /metrics (text format 0.0.4): tool calls
// and their latency by tool, transport and outcome (REST and MCP), and, taken
// when scraped, whether the active backend is up, how long its health check
// took, and the lines and bytes it holds for the last interval. Plugins'
// metrics follow, under names starting "lognurse_plugin_", which the host's
// own never do.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "lognurse/registry/registry.hpp"
#include "plugin_metrics.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

/// A cumulative histogram with fixed upper bounds, in seconds.
class Histogram {
public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds);

  /// Appends the _bucket, _sum and _count lines of `name` with `labels`
  /// (already rendered as `a="x",b="y"`, possibly empty).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  ///< per bucket, not cumulative
  double sum_ = 0;
};

class HostMetrics {
public:
  /// The process-wide instance; tool calls from every transport land here.
  static HostMetrics& instance();

  /// Counts one tool call. `transport` is "rest", "http" (MCP) or "stdio";
  /// `outcome` is "ok" or "error".
  void record_tool_call(const std::string& tool, const std::string& transport,
                        const std::string& outcome, double seconds);

  /// Serves GET /metrics and times the REST tool routes (through the
  /// listener's post-routing handler, which it takes over; the listener's
  /// pre-routing handler must call mark_request_start()).
  /// `interval` is the window of the lines and bytes gauges.
  void install(httplib::Server& http, registry::Registry& registry,
               std::chrono::seconds interval = std::chrono::seconds(300));

  /// Notes when the request this thread is about to route arrived.
  static void mark_request_start();

  /// The exposition text, checking the backend of `registry` now: the host's
  /// families, then every family plugins publish (see plugin_metrics.hpp).
  std::string render(registry::Registry& registry);

  /// Where plugins' sinks publish; the registry's make_metrics uses it.
  PluginMetrics& plugin_metrics() { return *plugin_metrics_; }

private:
  HostMetrics();

  /// "METHOD path" of each REST tool route → the tool's name.
  std::string tool_of_route(registry::Registry& registry, const std::string& method,
                            const std::string& path);

  std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> calls_;
  std::map<std::pair<std::string, std::string>, Histogram> call_latency_;
  Histogram health_latency_;
  std::map<std::string, std::uint64_t> check_errors_;  ///< by backend
  std::map<std::string, std::string> routes_;
  std::uint64_t routes_generation_ = ~0ULL;
  std::chrono::seconds interval_{300};
  std::shared_ptr<PluginMetrics> plugin_metrics_ = std::make_shared<PluginMetrics>();
};

}  // namespace lognurse::host
