#pragma once

// The metrics the Loki plugin publishes through its host's metrics sink (the
// host prefixes each name, e.g. lognurse_plugin_loki_entries_dropped_total):
//
//   entries_dropped_total{reason}   entries a caller was told were not stored:
//                                   queue_full, shutting_down, push_failed
//   entries_pushed_total            entries of pushes Loki accepted
//   bytes_pushed_total              request-body bytes of those pushes, as sent
//                                   (after snappy for protobuf)
//   push_requests_total{outcome}    HTTP push attempts: success, rate_limited,
//                                   client_error, server_error, timeout,
//                                   transport_error
//   retries_total{operation}        attempts repeated after a retryable failure
//   push_queue_entries, push_queue_bytes   what waits in the push queue now
//
// Every handle is looked up once, when the backend starts; updates are
// lock-free. A handle the sink refuses is replaced by one that discards, after
// one error line, so that metrics can never stop the push path.

#include <array>
#include <map>
#include <memory>
#include <string>

#include "lognurse/host_api/logger.hpp"
#include "lognurse/host_api/metrics.hpp"
#include "loki_adapter.hpp"

namespace lognurse::loki {

/// Why a push's entries were not stored: the reason label of entries_dropped_total.
enum class DropReason { queue_full, shutting_down, push_failed };

/// How one HTTP push attempt ended: the outcome label of push_requests_total.
enum class PushOutcome {
  success,
  rate_limited,
  client_error,
  server_error,
  timeout,
  transport_error,
};

/// The outcome of a failed attempt: by HTTP status when Loki answered, else
/// timeout or transport_error.
PushOutcome classify_push_failure(const LokiError& error);

/// The operations whose retries are counted, as with_retries names them.
inline constexpr const char* kRetriedOperations[] = {
    "push",   "query",  "labels", "label_values", "metrics",
    "series", "stats",  "volume", "patterns",     "detected_fields"};

/// The handles described in the file comment.
class LokiMetrics {
public:
  /// Looks every handle up in `sink` (discarding_metrics_sink() when null);
  /// `logger` (may be null) hears of any the sink refuses.
  LokiMetrics(const std::shared_ptr<MetricsSink>& sink, const std::shared_ptr<Logger>& logger);

  /// Counts `entries` as dropped for `reason`.
  void dropped(DropReason reason, std::uint64_t entries) const;

  /// Counts a push Loki accepted.
  void pushed(std::uint64_t entries, std::uint64_t body_bytes) const;

  /// Counts one HTTP push attempt.
  void push_attempt(PushOutcome outcome) const;

  /// Counts one retry of `operation`; names outside kRetriedOperations are
  /// counted as "other".
  void retried(const std::string& operation) const;

  /// Sets the queue gauges.
  void queue_depth(std::uint64_t entries, std::uint64_t bytes) const;

private:
  std::array<std::shared_ptr<MetricCounter>, 3> dropped_;
  std::shared_ptr<MetricCounter> entries_pushed_;
  std::shared_ptr<MetricCounter> bytes_pushed_;
  std::array<std::shared_ptr<MetricCounter>, 6> push_requests_;
  std::map<std::string, std::shared_ptr<MetricCounter>, std::less<>> retries_;
  std::shared_ptr<MetricGauge> queue_entries_;
  std::shared_ptr<MetricGauge> queue_bytes_;
};

}  // namespace lognurse::loki
