#include "loki_backend.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/logql.hpp"

namespace lognurse::loki {

namespace {

using Clock = std::chrono::steady_clock;

/// A LogQL range literal: whole seconds when exact, else milliseconds (≥ 1).
std::string logql_range(std::int64_t range_ns) {
  if (range_ns % kNanosPerSecond == 0) return std::to_string(range_ns / kNanosPerSecond) + "s";
  const std::int64_t ms = std::max<std::int64_t>((range_ns + 500'000) / 1'000'000, 1);
  return std::to_string(ms) + "ms";
}

std::string format_ms(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", ms);
  return buffer;
}

std::string format_age(Clock::duration age) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(age).count();
  return std::to_string(seconds) + " s ago";
}

Status check_range(const TimeRange& range) {
  if (range.end_ns > range.start_ns) return success();
  return invalid_argument(codes::kInvalidRange,
                          "the time range is empty: end (" + std::to_string(range.end_ns) +
                              ") must be after start (" + std::to_string(range.start_ns) + ")");
}

std::uint64_t to_count(double value) {
  if (!std::isfinite(value) || value <= 0) return 0;
  return static_cast<std::uint64_t>(std::llround(value));
}

/// Sums an instant vector per value of `label`; a series without it counts
/// under "unknown". Sorted by count, descending, then by name.
std::vector<std::pair<std::string, std::uint64_t>> counts_by(const QueryResult& result,
                                                             const std::string& label) {
  std::map<std::string, std::uint64_t> totals;
  for (const auto& series : result.series) {
    const std::string* value = find_label(series.metric, label);
    const std::string name = value != nullptr && !value->empty() ? *value : "unknown";
    for (const auto& sample : series.samples) totals[name] += to_count(sample.value);
  }
  std::vector<std::pair<std::string, std::uint64_t>> out(totals.begin(), totals.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

bool is_error_level(std::string level) {
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return level == "error" || level == "critical" || level == "fatal";
}

}  // namespace

MetricQueries metric_queries(std::int64_t range_ns) {
  const std::string selector = "{service_name=~\".+\"}";
  const std::string range = "[" + logql_range(range_ns) + "]";
  return {"sum by (detected_level) (count_over_time(" + selector + " " + range + "))",
          "sum by (service_name) (count_over_time(" + selector + " " + range + "))",
          "sum(bytes_over_time(" + selector + " " + range + "))"};
}

LokiBackend::LokiBackend(LokiConfig config, std::shared_ptr<Logger> logger)
    : config_(std::move(config)), adapter_(config_.adapter), logger_(std::move(logger)) {}

LokiBackend::~LokiBackend() { shutdown(); }

std::string LokiBackend::backend_name() const { return kBackendName; }

std::string LokiBackend::effective_tenant(const std::string& requested) const {
  return requested.empty() || requested == kDefaultTenant ? config_.tenant_id : requested;
}

void LokiBackend::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

void LokiBackend::log(LogLevel level, const std::string& message) const {
  if (logger_) logger_->log(level, message);
}

Error LokiBackend::remember(const LokiError& error) {
  std::lock_guard lock(mutex_);
  last_error_ = error.error;
  last_error_at_ = Clock::now();
  return error.error;
}

template <typename T, typename Call>
Result<T> LokiBackend::with_retries(const std::string& operation, const std::string& tenant,
                                    bool retry_timeouts, const Call& call) {
  for (int retry = 1;; ++retry) {
    auto result = call();
    if (result) return std::move(result).value();

    const LokiError& error = result.error();
    const RetryDecision decision =
        decide_retry(config_.retry, error, retry, random_jitter(), retry_timeouts);
    if (!decision.retry) {
      LokiError final_error = error;
      if (!decision.reason.empty()) final_error.error.message += "; " + decision.reason;
      return remember(final_error);
    }

    log(LogLevel::warn,
        "loki " + operation + " tenant=" + tenant + " endpoint=" + adapter_.endpoint() +
            " attempt " + std::to_string(retry) + "/" +
            std::to_string(config_.retry.max_retries + 1) + " failed with " + error.error.code +
            (error.http_status != 0 ? " (HTTP " + std::to_string(error.http_status) + ")"
                                    : std::string()) +
            "; retrying in " + std::to_string(decision.delay.count()) + " ms");

    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, decision.delay, [this] { return stopping_; })) {
      lock.unlock();
      LokiError final_error = error;
      final_error.error.message += "; retries abandoned because the plugin is shutting down";
      return remember(final_error);
    }
  }
}

Status LokiBackend::connect() {
  const auto started = Clock::now();
  auto ready = adapter_.ready();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (!ready) {
    log(LogLevel::warn, "loki endpoint=" + adapter_.endpoint() + " not ready: " +
                            ready.error().error.code + ": " + ready.error().error.message);
    return remember(ready.error());
  }
  log(LogLevel::info, "loki endpoint=" + adapter_.endpoint() + " tenant=" + config_.tenant_id +
                          " ready in " + format_ms(ms) + " ms");
  return success();
}

Health LokiBackend::health() {
  Health health;
  health.backend = kBackendName;

  const auto started = Clock::now();
  auto ready = adapter_.ready();
  health.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  health.ready = ready.ok();

  std::string last;
  {
    std::lock_guard lock(mutex_);
    if (last_error_) {
      last = "; last error " + format_age(Clock::now() - last_error_at_) + ": " +
             last_error_->code + ": " + last_error_->message;
    }
  }
  if (ready) {
    health.detail = "ready at " + adapter_.endpoint() + last;
  } else {
    health.detail = ready.error().error.code + ": " + ready.error().error.message + last;
    remember(ready.error());
  }
  return health;
}

Result<PushResult> LokiBackend::push(const PushRequest& request) {
  PushResult result;
  for (const auto& stream : request.streams) result.entries_accepted += stream.entries.size();
  result.streams = request.streams.size();
  if (result.entries_accepted == 0) return PushResult{};

  const std::string tenant = effective_tenant(request.tenant);
  auto pushed =
      with_retries<Unit>("push", tenant, true, [&] { return adapter_.push(tenant, request); });
  if (!pushed) {
    log(LogLevel::error, "loki push tenant=" + tenant + " endpoint=" + adapter_.endpoint() +
                             " lost streams=" + std::to_string(result.streams) +
                             " entries=" + std::to_string(result.entries_accepted) + ": " +
                             pushed.error().code + ": " + pushed.error().message);
    return pushed.error();
  }
  return result;
}

Result<QueryResult> LokiBackend::query(const LogQuery& query) {
  if (auto valid = logql::validate(query.logql); !valid) return valid.error();
  if (auto range = check_range(query.range); !range) return range.error();

  const std::string tenant = effective_tenant(query.tenant);
  return with_retries<QueryResult>("query", tenant, false, [&] {
    return adapter_.query_range(tenant, query.logql, query.range, query.limit, query.step_ns,
                                query.direction);
  });
}

Result<std::vector<std::string>> LokiBackend::labels(const std::string& tenant,
                                                     const TimeRange& range) {
  if (auto checked = check_range(range); !checked) return checked.error();
  const std::string sent = effective_tenant(tenant);
  return with_retries<std::vector<std::string>>("labels", sent, false,
                                                [&] { return adapter_.labels(sent, range); });
}

Result<std::vector<std::string>> LokiBackend::label_values(const std::string& tenant,
                                                           const std::string& name,
                                                           const TimeRange& range) {
  if (name.empty()) {
    return invalid_argument(codes::kBadRequest,
                            "label name is empty; name a label such as "
                            "service_name");
  }
  if (auto checked = check_range(range); !checked) return checked.error();
  const std::string sent = effective_tenant(tenant);
  return with_retries<std::vector<std::string>>(
      "label_values", sent, false, [&] { return adapter_.label_values(sent, name, range); });
}

Result<SearchResult> LokiBackend::search(const SearchRequest& request) {
  auto logql = logql::compile_search(request.filters);
  if (!logql) return logql.error();

  LogQuery query;
  query.tenant = request.tenant;
  query.logql = logql.value();
  query.range = request.range;
  query.limit = request.limit;
  query.direction = request.direction;
  auto result = this->query(query);
  if (!result) return result.error();
  return SearchResult{std::move(logql).value(), std::move(result).value()};
}

Result<LogMetrics> LokiBackend::metrics(const std::string& tenant, const TimeRange& range) {
  if (auto checked = check_range(range); !checked) return checked.error();
  const std::string sent = effective_tenant(tenant);
  const MetricQueries queries = metric_queries(range.end_ns - range.start_ns);

  const auto instant = [&](const std::string& logql) {
    return with_retries<QueryResult>("metrics", sent, false, [&] {
      return adapter_.query(sent, logql, range.end_ns, 100, Direction::backward);
    });
  };
  auto by_level = instant(queries.by_level);
  if (!by_level) return by_level.error();
  auto by_service = instant(queries.by_service);
  if (!by_service) return by_service.error();
  auto bytes = instant(queries.bytes);
  if (!bytes) return bytes.error();

  LogMetrics metrics;
  metrics.range = range;
  metrics.by_level = counts_by(by_level.value(), "detected_level");
  metrics.by_service = counts_by(by_service.value(), "service_name");
  for (const auto& series : bytes.value().series) {
    for (const auto& sample : series.samples) metrics.bytes += to_count(sample.value);
  }
  for (const auto& [level, lines] : metrics.by_level) {
    metrics.lines += lines;
    if (is_error_level(level)) metrics.error_lines += lines;
  }
  if (metrics.lines > 0) {
    metrics.error_rate =
        static_cast<double>(metrics.error_lines) / static_cast<double>(metrics.lines);
  }
  return metrics;
}

}  // namespace lognurse::loki
