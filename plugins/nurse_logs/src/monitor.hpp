#pragma once

// The log-aggregation monitor: checks the active backend's health and recent
// volume on an interval, keeps a bounded history, and logs only transitions
// between healthy, degraded and down.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/logger.hpp"

namespace lognurse::nurse {

enum class HealthState { healthy, degraded, down };

const char* to_string(HealthState state);

/// One check of the backend.
struct MonitorCheck {
  std::int64_t checked_at_ns = 0;
  HealthState state = HealthState::down;
  Health health;
  std::optional<LogMetrics> volume;  ///< over the window; absent when it failed
  std::int64_t window_ns = 0;
  std::string error;  ///< why the volume could not be read, if it could not
};

nlohmann::json to_json(const MonitorCheck& check);

struct MonitorOptions {
  std::chrono::seconds interval{300};
  /// How far back each check counts the volume ("recent" volume).
  std::chrono::seconds volume_window{3600};
  /// A ready backend answering slower than this is degraded.
  double degraded_latency_ms = 2000;
  std::size_t history_size = 48;
  std::string tenant = kDefaultTenant;
};

class Monitor {
public:
  using Lookup = std::function<std::shared_ptr<LogAggregationProtocol>()>;

  Monitor(Lookup lookup, MonitorOptions options, std::shared_ptr<Logger> logger);

  /// Stops the background thread if it runs.
  ~Monitor();

  /// Starts checking in the background: the first check after `first_delay`,
  /// then every interval.
  void start(std::chrono::milliseconds first_delay);

  /// Stops and joins the background thread. Idempotent.
  void stop();

  /// Runs one check now, records it and returns it. Thread safe.
  MonitorCheck check_now();

  /// Recorded checks, oldest first.
  std::deque<MonitorCheck> history() const;

private:
  void run(std::chrono::milliseconds first_delay);

  Lookup lookup_;
  MonitorOptions options_;
  std::shared_ptr<Logger> logger_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<MonitorCheck> history_;
  std::optional<HealthState> last_state_;
  std::thread thread_;
};

}  // namespace lognurse::nurse
