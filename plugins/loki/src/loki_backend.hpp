#pragma once

// LokiBackend: the log-aggregation protocol on top of LokiAdapter. It adds the
// policy the adapter leaves out: tenant defaults, local LogQL validation (a
// clear logql.parse_error beats a remote 400), batching of pushes (see
// push_batcher.hpp), retries with backoff, trace enrichment, health tracking
// and the metric queries behind metrics().
//
// Trace enrichment: a trace_id or span_id given as a stream label is moved to
// the structured metadata of each of the stream's entries (an entry's own
// value wins), so that a per-request identifier never becomes a stream label
// and so never multiplies Loki's streams; metadata given on entries travels
// unchanged.
//
// Tenants: a request that carries the default tenant ("fake") is sent with the
// configured tenant_id (LOKI_TENANT_ID wins over the section); a request that
// names another tenant is sent with that tenant unchanged.
//
// Retries: pushes retry on 429, 5xx, transport errors and timeouts; reads
// retry on the same except timeouts, since repeating a query that ran out of
// time rarely helps. Other 4xx answers are returned at once.
//
// Thread safety: all methods may be called concurrently.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/logger.hpp"
#include "loki_adapter.hpp"
#include "loki_config.hpp"
#include "loki_metrics.hpp"
#include "push_batcher.hpp"
#include "retry_policy.hpp"

namespace lognurse::loki {

/// Name the backend registers under in the abstraction map.
inline constexpr const char* kBackendName = "loki";

/// The metric queries metrics() sends, for a range written as a LogQL
/// duration such as "3600s". Exposed so that tests can check them.
struct MetricQueries {
  std::string by_level;    ///< lines per detected_level
  std::string by_service;  ///< lines per service_name
  std::string bytes;       ///< total bytes
};

/// Builds the metric queries for a range of `range_ns` nanoseconds.
MetricQueries metric_queries(std::int64_t range_ns);

/// Labels that name a trace or span and are moved to structured metadata.
inline constexpr const char* kTraceLabels[] = {"trace_id", "span_id"};

/// Applies the trace enrichment described in the file comment, in place.
void enrich_traces(PushRequest& request);

/// Whether push() must rewrite `request` before sending it: a stream has no
/// entries (left out) or carries a label of kTraceLabels (enriched).
bool needs_rewrite(const PushRequest& request);

/// The Loki backend. See the file comment for tenants, retries and threads.
class LokiBackend final : public LogAggregationProtocol {
public:
  /// Creates the backend; nothing is sent until the first call. `logger` may
  /// be null, in which case nothing is logged; `metrics` may be null, in which
  /// case nothing is published (see loki_metrics.hpp for what is).
  LokiBackend(LokiConfig config, std::shared_ptr<Logger> logger,
              std::shared_ptr<MetricsSink> metrics = nullptr);
  ~LokiBackend() override;

  /// "loki".
  std::string backend_name() const override;

  /// Checks GET /ready once; fails with loki.not_ready or a transport error.
  Status connect() override;

  /// Checks GET /ready and reports its latency; the detail names the endpoint
  /// and the last error any call met, with its age.
  Health health() override;

  /// Queues the streams for the next batch and waits until Loki accepted it
  /// (with retries); an empty request succeeds without a call. Fails with
  /// loki.queue_full, counted as dropped, when the queue is full.
  Result<PushResult> push(const PushRequest& request) override;

  /// Validates the LogQL locally, then runs a range query.
  Result<QueryResult> query(const LogQuery& query) override;

  /// Label names over the range.
  Result<std::vector<std::string>> labels(const std::string& tenant,
                                          const TimeRange& range) override;

  /// Values of one label over the range.
  Result<std::vector<std::string>> label_values(const std::string& tenant, const std::string& name,
                                                const TimeRange& range) override;

  /// Compiles the filters with logql::compile_search and runs the query.
  Result<SearchResult> search(const SearchRequest& request) override;

  /// Three metric queries evaluated once, at the end of the range, through
  /// query_range (see metric_queries):
  /// lines by level and by service, and bytes. Lines and the error rate are
  /// derived from the per-level counts; a series without a level counts as
  /// "unknown". Linear in the number of levels and services.
  Result<LogMetrics> metrics(const std::string& tenant, const TimeRange& range) override;

  /// GET /loki/api/v1/series after checking every selector locally.
  Result<std::vector<Labels>> series(const std::string& tenant,
                                     const std::vector<std::string>& selectors,
                                     const TimeRange& range) override;

  /// GET /loki/api/v1/index/stats after checking the selector locally.
  Result<IndexStats> stats(const std::string& tenant, const std::string& selector,
                           const TimeRange& range) override;

  /// GET /loki/api/v1/index/volume or volume_range (when a step is given).
  Result<QueryResult> volume(const VolumeRequest& request) override;

  /// GET /loki/api/v1/patterns after checking the selector locally.
  Result<std::vector<LogPattern>> patterns(const std::string& tenant, const std::string& selector,
                                           const TimeRange& range, std::int64_t step_ns) override;

  /// GET /loki/api/v1/detected_fields after checking the query locally.
  Result<std::vector<DetectedField>> detected_fields(const std::string& tenant,
                                                     const std::string& query,
                                                     const TimeRange& range,
                                                     std::size_t line_limit) override;

  /// Counters of the push path: batches and entries sent, failed, dropped.
  PushCounters push_counters() const;

  /// The tenant a request naming `requested` is sent with.
  std::string effective_tenant(const std::string& requested) const;

  /// Ends retry waits in progress and makes later retries give up; calls
  /// already on the wire finish within timeout_ms.
  void shutdown();

  /// The underlying client, for calls the protocol does not cover (instant
  /// queries, build info).
  LokiAdapter& adapter() { return adapter_; }

private:
  template <typename T, typename Call>
  Result<T> with_retries(const std::string& operation, const std::string& tenant,
                         bool retry_timeouts, const Call& call);
  Status send_batch(const std::string& tenant, std::span<const PushRequest* const> parts);
  Error remember(const LokiError& error);
  void log(LogLevel level, const std::string& message) const;

  LokiConfig config_;
  LokiAdapter adapter_;
  std::shared_ptr<Logger> logger_;
  std::shared_ptr<const LokiMetrics> metrics_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<Error> last_error_;
  std::chrono::steady_clock::time_point last_error_at_;

  // Last member: its thread calls send_batch, so it must stop first.
  std::unique_ptr<PushBatcher> batcher_;
};

}  // namespace lognurse::loki
