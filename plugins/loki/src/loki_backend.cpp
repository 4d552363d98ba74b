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

void enrich_traces(PushRequest& request) {
  for (auto& stream : request.streams) {
    Labels moved;
    for (const char* name : kTraceLabels) {
      const auto it = std::find_if(stream.labels.begin(), stream.labels.end(),
                                   [&](const Label& label) { return label.first == name; });
      if (it == stream.labels.end()) continue;
      if (!it->second.empty()) moved.push_back(*it);
      stream.labels.erase(it);
    }
    if (moved.empty()) continue;
    for (auto& entry : stream.entries) {
      for (const auto& label : moved) {
        if (find_label(entry.metadata, label.first) == nullptr) entry.metadata.push_back(label);
      }
      normalize_labels(entry.metadata);
    }
  }
}

bool needs_rewrite(const PushRequest& request) {
  for (const auto& stream : request.streams) {
    if (stream.entries.empty()) return true;
    for (const char* name : kTraceLabels) {
      if (find_label(stream.labels, name) != nullptr) return true;
    }
  }
  return false;
}

LokiBackend::LokiBackend(LokiConfig config, std::shared_ptr<Logger> logger,
                         std::shared_ptr<MetricsSink> metrics)
    : config_(std::move(config)),
      adapter_(config_.adapter),
      logger_(std::move(logger)),
      metrics_(std::make_shared<LokiMetrics>(metrics, logger_)) {
  batcher_ = std::make_unique<PushBatcher>(
      config_.batch,
      [this](const std::string& tenant, std::span<const PushRequest* const> parts) {
        return send_batch(tenant, parts);
      },
      logger_, metrics_);
}

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
  // Queued pushes still get one attempt each: Loki may be up.
  if (batcher_) batcher_->shutdown();
}

PushCounters LokiBackend::push_counters() const { return batcher_->counters(); }

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

    metrics_->retried(operation);
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
  const PushCounters counters = batcher_->counters();
  if (counters.entries_dropped > 0) {
    last += "; dropped " + std::to_string(counters.entries_dropped) +
            " entries because the push queue was full";
  }
  if (ready) {
    health.detail = "ready at " + adapter_.endpoint() + last;
  } else {
    health.detail = ready.error().error.code + ": " + ready.error().error.message + last;
    remember(ready.error());
  }
  return health;
}

Status LokiBackend::send_batch(const std::string& tenant,
                               std::span<const PushRequest* const> parts) {
  // Encoded once, so that every attempt sends the same bytes.
  const PushBody body = encode_push(parts, config_.push_format);
  auto sent = with_retries<Unit>("push", tenant, true, [&] {
    auto attempt = adapter_.push_body(tenant, body);
    metrics_->push_attempt(attempt ? PushOutcome::success
                                   : classify_push_failure(attempt.error()));
    return attempt;
  });
  if (sent) {
    std::uint64_t entries = 0;
    for (const PushRequest* part : parts) {
      for (const auto& stream : part->streams) entries += stream.entries.size();
    }
    metrics_->pushed(entries, body.bytes.size());
  }
  return sent;
}

Result<PushResult> LokiBackend::push(const PushRequest& request) {
  PushResult result;
  for (const auto& stream : request.streams) result.entries_accepted += stream.entries.size();
  result.streams = request.streams.size();
  if (result.entries_accepted == 0) return PushResult{};

  const std::string tenant = effective_tenant(request.tenant);
  if (!is_valid_tenant(tenant)) {
    return invalid_argument(codes::kInvalidTenant,
                            "tenant \"" + tenant.substr(0, 40) +
                                "\" is not a valid Loki tenant ID: use up to 150 letters, "
                                "digits and !-_.*'() characters");
  }
  // The batcher borrows the request until it was sent, so it is copied only
  // when it has to change.
  PushRequest rewritten;
  const bool rewrite = needs_rewrite(request);
  if (rewrite) {
    rewritten = request;
    std::erase_if(rewritten.streams,
                  [](const LogStream& stream) { return stream.entries.empty(); });
    enrich_traces(rewritten);
  }

  auto pushed = batcher_->submit(tenant, rewrite ? rewritten : request);
  if (!pushed) {
    if (pushed.error().code != codes::kQueueFull) {
      log(LogLevel::error, "loki push tenant=" + tenant + " endpoint=" + adapter_.endpoint() +
                               " lost streams=" + std::to_string(result.streams) +
                               " entries=" + std::to_string(result.entries_accepted) + ": " +
                               pushed.error().code + ": " + pushed.error().message);
    }
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

  // One evaluation at the end of the range, whose range vector covers the
  // whole range. query_range is used rather than an instant query because
  // every Loki-compatible server answers it.
  const TimeRange at_end{range.end_ns, range.end_ns};
  const std::int64_t step = range.end_ns - range.start_ns;
  const auto instant = [&](const std::string& logql) {
    return with_retries<QueryResult>("metrics", sent, false, [&] {
      return adapter_.query_range(sent, logql, at_end, 1000, step, Direction::backward);
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

namespace lognurse::loki {

namespace {

/// A stream selector on its own, as series, stats and patterns take: it must
/// be valid LogQL and hold nothing after the closing brace.
Status check_selector(const std::string& selector, const char* what) {
  const auto first = selector.find_first_not_of(" \t\n");
  const auto last = selector.find_last_not_of(" \t\n");
  if (first == std::string::npos || selector[first] != '{' || selector[last] != '}') {
    return invalid_argument("logql.parse_error",
                            std::string(what) + " must be a stream selector such as "
                                                "{service_name=\"api\"}, got \"" +
                                selector.substr(0, 200) + "\"");
  }
  return logql::validate(selector);
}

}  // namespace

Result<std::vector<Labels>> LokiBackend::series(const std::string& tenant,
                                                const std::vector<std::string>& selectors,
                                                const TimeRange& range) {
  if (selectors.empty()) {
    return invalid_argument(codes::kBadRequest,
                            "series needs at least one selector, e.g. {service_name=\"api\"}");
  }
  for (const auto& selector : selectors) {
    if (auto checked = check_selector(selector, "a series selector"); !checked) {
      return checked.error();
    }
  }
  if (auto checked = check_range(range); !checked) return checked.error();
  const std::string sent = effective_tenant(tenant);
  return with_retries<std::vector<Labels>>(
      "series", sent, false, [&] { return adapter_.series(sent, selectors, range); });
}

Result<IndexStats> LokiBackend::stats(const std::string& tenant, const std::string& selector,
                                      const TimeRange& range) {
  if (auto checked = check_selector(selector, "the stats selector"); !checked) {
    return checked.error();
  }
  if (auto checked = check_range(range); !checked) return checked.error();
  const std::string sent = effective_tenant(tenant);
  return with_retries<IndexStats>("stats", sent, false,
                                  [&] { return adapter_.index_stats(sent, selector, range); });
}

Result<QueryResult> LokiBackend::volume(const VolumeRequest& request) {
  if (auto checked = check_selector(request.selector, "the volume selector"); !checked) {
    return checked.error();
  }
  if (auto checked = check_range(request.range); !checked) return checked.error();
  if (request.step_ns < 0) {
    return invalid_argument(codes::kBadRequest, "the volume step must not be negative");
  }
  const std::string sent = effective_tenant(request.tenant);
  return with_retries<QueryResult>("volume", sent, false,
                                   [&] { return adapter_.index_volume(sent, request); });
}

Result<std::vector<LogPattern>> LokiBackend::patterns(const std::string& tenant,
                                                      const std::string& selector,
                                                      const TimeRange& range,
                                                      std::int64_t step_ns) {
  if (auto checked = check_selector(selector, "the patterns selector"); !checked) {
    return checked.error();
  }
  if (auto checked = check_range(range); !checked) return checked.error();
  const std::string sent = effective_tenant(tenant);
  return with_retries<std::vector<LogPattern>>("patterns", sent, false, [&] {
    return adapter_.patterns(sent, selector, range, step_ns);
  });
}

Result<std::vector<DetectedField>> LokiBackend::detected_fields(const std::string& tenant,
                                                                const std::string& query,
                                                                const TimeRange& range,
                                                                std::size_t line_limit) {
  if (auto valid = logql::validate(query); !valid) return valid.error();
  if (auto checked = check_range(range); !checked) return checked.error();
  if (line_limit == 0) {
    return invalid_argument(codes::kBadRequest, "line_limit must be at least 1");
  }
  const std::string sent = effective_tenant(tenant);
  return with_retries<std::vector<DetectedField>>("detected_fields", sent, false, [&] {
    return adapter_.detected_fields(sent, query, range, line_limit);
  });
}

}  // namespace lognurse::loki
