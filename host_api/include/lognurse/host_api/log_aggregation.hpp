#pragma once

// The log-aggregation protocol: what every backend (the embedded store, Loki)
// offers to the Nurse tools and to the host's HTTP surfaces. Implementations
// must be safe to call from several threads at once.

#include <string>
#include <vector>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse {

/// Name of the abstraction every backend registers under.
inline constexpr const char* kLogAggregation = "log_aggregation";

class LogAggregationProtocol {
public:
  virtual ~LogAggregationProtocol();

  /// Short backend name, e.g. "local_store" or "loki".
  virtual std::string backend_name() const = 0;

  /// Opens files or checks the remote end. Safe to call more than once.
  virtual Status connect() = 0;

  virtual Health health() = 0;

  /// Stores the entries. A successful result means they are durable.
  virtual Result<PushResult> push(const PushRequest& request) = 0;

  /// Runs a LogQL query over query.range (a range query).
  virtual Result<QueryResult> query(const LogQuery& query) = 0;

  /// Label names seen in streams with entries in the range.
  virtual Result<std::vector<std::string>> labels(const std::string& tenant,
                                                  const TimeRange& range) = 0;

  /// Values of one label in streams with entries in the range.
  virtual Result<std::vector<std::string>> label_values(const std::string& tenant,
                                                        const std::string& name,
                                                        const TimeRange& range) = 0;

  /// Compiles the filters to LogQL and runs it.
  virtual Result<SearchResult> search(const SearchRequest& request) = 0;

  /// Volume, levels, services and error rate over the range.
  virtual Result<LogMetrics> metrics(const std::string& tenant, const TimeRange& range) = 0;

  // Index and discovery operations. A backend that cannot answer one keeps the
  // default, which fails with the code "backend.unsupported" and names the
  // backend and the operation, so callers can tell a gap from a fault.

  /// Label sets of the streams that match any of the selectors over the range.
  virtual Result<std::vector<Labels>> series(const std::string& tenant,
                                             const std::vector<std::string>& selectors,
                                             const TimeRange& range);

  /// Streams, chunks, entries and bytes matched by a selector over the range.
  virtual Result<IndexStats> stats(const std::string& tenant, const std::string& selector,
                                   const TimeRange& range);

  /// Bytes by series or by target labels: "vector" without a step, "matrix" with one.
  virtual Result<QueryResult> volume(const VolumeRequest& request);

  /// Patterns of the lines a selector matches, with counts per step.
  virtual Result<std::vector<LogPattern>> patterns(const std::string& tenant,
                                                   const std::string& selector,
                                                   const TimeRange& range, std::int64_t step_ns);

  /// Fields that parsers and structured metadata find in the lines a query returns.
  virtual Result<std::vector<DetectedField>> detected_fields(const std::string& tenant,
                                                             const std::string& query,
                                                             const TimeRange& range,
                                                             std::size_t line_limit);
};

}  // namespace lognurse
