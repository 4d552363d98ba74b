#pragma once

// PluginMetrics: the host's side of the metrics sink (host_api/metrics.hpp).
// Each plugin gets a sink that prefixes its names with
// "lognurse_plugin_<plugin>_", a prefix none of the host's own metrics uses,
// so that nothing a plugin publishes can clash with the host's families; a
// family belongs to the plugin that created it, so two plugins whose names map
// to the same prefix cannot share one either. render() writes every family in
// Prometheus text format, HELP and TYPE once each, families by name and
// series by labels.
//
// Handle updates are lock-free (relaxed atomics); looking up a handle and
// rendering take one mutex. A histogram's _count is the sum of its buckets
// as read, so the two always agree; its _sum may lag an observation that is
// under way while /metrics is scraped.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lognurse/host_api/metrics.hpp"

namespace lognurse::host {

/// The prefix of every family a plugin publishes.
inline constexpr const char* kPluginMetricPrefix = "lognurse_plugin_";

/// The store of plugin metrics; see the file comment.
class PluginMetrics : public std::enable_shared_from_this<PluginMetrics> {
public:
  /// A sink for the plugin named `plugin`. Characters of the name that a
  /// metric name cannot hold become '_'.
  std::shared_ptr<MetricsSink> sink_for(const std::string& plugin);

  /// Appends every family to `out`. Linear in the number of series.
  void render(std::string& out) const;

  /// The prefix of `plugin`'s families, e.g. "lognurse_plugin_loki_".
  static std::string prefix_of(const std::string& plugin);

  enum class Kind { counter, gauge, histogram };
  struct Series;

  /// The series of family `name` (already prefixed) of `kind` with `labels`,
  /// created when new; fails as MetricsSink describes.
  Result<std::shared_ptr<Series>> series(const std::string& owner, Kind kind,
                                         const std::string& name, const std::string& help,
                                         const MetricLabels& labels,
                                         const std::vector<double>& bounds);

private:
  struct Family {
    Kind kind = Kind::counter;
    std::string help;
    std::string owner;
    std::vector<double> bounds;
    std::map<MetricLabels, std::shared_ptr<Series>> series;  ///< by sorted labels
  };

  Status check_new_family(const std::string& owner, Kind kind, const std::string& name) const;

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

}  // namespace lognurse::host
