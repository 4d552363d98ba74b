#include "monitor.hpp"

#include <chrono>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"

namespace lognurse::nurse {

const char* to_string(HealthState state) {
  switch (state) {
    case HealthState::healthy: return "healthy";
    case HealthState::degraded: return "degraded";
    case HealthState::down: return "down";
  }
  return "down";
}

nlohmann::json to_json(const MonitorCheck& check) {
  nlohmann::json out = {
      {"status", to_string(check.state)},
      {"checked_at", format_time(check.checked_at_ns)},
      {"backend", check.health.backend},
      {"ready", check.health.ready},
      {"latency_ms", check.health.latency_ms},
      {"detail", check.health.detail},
  };
  if (check.volume) {
    out["volume"] = {{"window", format_duration(check.window_ns)},
                     {"lines", check.volume->lines},
                     {"bytes", check.volume->bytes},
                     {"error_lines", check.volume->error_lines},
                     {"error_rate", check.volume->error_rate}};
  } else {
    out["volume"] = nullptr;
  }
  if (!check.error.empty()) out["error"] = check.error;
  return out;
}

Monitor::Monitor(Lookup lookup, MonitorOptions options, std::shared_ptr<Logger> logger)
    : lookup_(std::move(lookup)), options_(options), logger_(std::move(logger)) {}

Monitor::~Monitor() { stop(); }

void Monitor::start(std::chrono::milliseconds first_delay) {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, first_delay] { run(first_delay); });
}

void Monitor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Monitor::run(std::chrono::milliseconds first_delay) {
  std::chrono::milliseconds wait = first_delay;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
    check_now();
    wait = std::chrono::duration_cast<std::chrono::milliseconds>(options_.interval);
  }
}

MonitorCheck Monitor::check_now() {
  MonitorCheck check;
  check.checked_at_ns = now_ns();
  check.window_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.volume_window).count();

  auto backend = lookup_();
  if (!backend) {
    check.health = Health{false, "none", "no log_aggregation backend is loaded", 0};
    check.state = HealthState::down;
  } else {
    check.health = backend->health();
    if (!check.health.ready) {
      check.state = HealthState::down;
    } else {
      auto volume = backend->metrics(options_.tenant,
                                     TimeRange{check.checked_at_ns - check.window_ns,
                                               check.checked_at_ns + 1});
      if (volume) {
        check.volume = std::move(volume).value();
      } else {
        check.error = volume.error().code + ": " + volume.error().message;
      }
      const bool slow = check.health.latency_ms > options_.degraded_latency_ms;
      check.state = (slow || !check.volume) ? HealthState::degraded : HealthState::healthy;
    }
  }

  std::optional<HealthState> previous;
  {
    std::lock_guard lock(mutex_);
    previous = last_state_;
    last_state_ = check.state;
    history_.push_back(check);
    while (history_.size() > options_.history_size) history_.pop_front();
  }
  if (logger_ && previous != check.state) {
    const std::string message =
        std::string("log aggregation ") + (previous ? to_string(*previous) : "unknown") + " -> " +
        to_string(check.state) + " (backend " + check.health.backend + ", latency " +
        std::to_string(static_cast<long long>(check.health.latency_ms)) + " ms" +
        (check.health.detail.empty() ? "" : ", " + check.health.detail) +
        (check.error.empty() ? "" : ", " + check.error) + ")";
    logger_->log(check.state == HealthState::healthy ? LogLevel::info : LogLevel::warn, message);
  }
  return check;
}

std::deque<MonitorCheck> Monitor::history() const {
  std::lock_guard lock(mutex_);
  return history_;
}

}  // namespace lognurse::nurse
