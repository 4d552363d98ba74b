#pragma once

// The metrics sink a host hands to each plugin (HostContext::metrics). A
// plugin asks for a handle once, when it starts, and then updates it on its
// hot path: a handle update is lock-free and never throws. What a plugin
// publishes appears beside the host's own metrics (for sample_host, on
// /metrics in Prometheus text format), under names the host prefixes with
// the plugin's name so that they cannot clash with the host's or another
// plugin's.
//
// Asking twice for the same name and label values returns the same series.
// A family (one name) has one type and one help text; asking for it with
// another type, help text or set of histogram bounds is an error, as is a
// name or label that the exposition format cannot carry.
//
// Thread safety: sinks and handles may be used from any thread. Series live
// as long as the host; there is no way to remove one.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lognurse/host_api/result.hpp"

namespace lognurse {

/// Label pairs of one series, e.g. {{"reason", "queue_full"}}. Names match
/// [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; values are any UTF-8.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

/// The name and help text of a metric family.
struct MetricInfo {
  /// [a-zA-Z_][a-zA-Z0-9_]*, without the host's prefix; counters end in
  /// "_total" by convention, e.g. "entries_dropped_total".
  std::string name;
  /// One line saying what is counted, in which unit.
  std::string help;
};

/// A monotonically increasing count.
class MetricCounter {
public:
  virtual ~MetricCounter();
  /// Adds `amount`.
  virtual void add(std::uint64_t amount) noexcept = 0;
  /// Adds one.
  void increment() noexcept { add(1); }
};

/// A value that goes up and down, such as a queue depth.
class MetricGauge {
public:
  virtual ~MetricGauge();
  /// Replaces the value.
  virtual void set(double value) noexcept = 0;
  /// Adds `delta`, which may be negative.
  virtual void add(double delta) noexcept = 0;
};

/// Observations counted into cumulative buckets with fixed upper bounds, with
/// their sum and count.
class MetricHistogram {
public:
  virtual ~MetricHistogram();
  /// Counts one observation.
  virtual void observe(double value) noexcept = 0;
};

/// Where a plugin publishes metrics. Every call fails with
/// "metrics.invalid_name" or "metrics.invalid_label" for a name or label the
/// format cannot carry, "metrics.invalid_bounds" for histogram bounds that are
/// not finite and increasing, and "metrics.conflict" when the family exists
/// with another type, help text or bounds (or belongs to another plugin).
class MetricsSink {
public:
  virtual ~MetricsSink();

  /// The counter series of family `info` with `labels`, created at 0.
  virtual Result<std::shared_ptr<MetricCounter>> counter(const MetricInfo& info,
                                                         const MetricLabels& labels) = 0;

  /// The gauge series of family `info` with `labels`, created at 0.
  virtual Result<std::shared_ptr<MetricGauge>> gauge(const MetricInfo& info,
                                                     const MetricLabels& labels) = 0;

  /// The histogram series of family `info` with `labels`. `bounds` are the
  /// bucket upper bounds, finite and strictly increasing (a +Inf bucket is
  /// implied); the label name "le" is reserved.
  virtual Result<std::shared_ptr<MetricHistogram>> histogram(const MetricInfo& info,
                                                             const MetricLabels& labels,
                                                             const std::vector<double>& bounds) = 0;
};

/// A sink whose handles record nothing, for hosts without a metrics endpoint
/// and for plugins that must go on when a handle cannot be had. Never fails.
std::shared_ptr<MetricsSink> discarding_metrics_sink();

}  // namespace lognurse
