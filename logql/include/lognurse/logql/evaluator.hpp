#pragma once

// Query execution behind execute() and execute_instant(): log queries stream
// entries through the compiled pipeline, metric queries evaluate range
// aggregations per step and combine them with vector aggregations and binary
// operators.

#include <cstdint>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "lognurse/logql/ast.hpp"

namespace lognurse::logql {

/// How far back execute_instant reads for a log query: entries with
/// timestamps in [time - 1h, time].
inline constexpr std::int64_t kInstantLogLookbackNs = 3600LL * 1'000'000'000LL;

/// Loki's default step of a range query without one: (end - start) / 250,
/// rounded down to whole seconds, and at least one second.
std::int64_t default_step_ns(const TimeRange& range);

/// Evaluation window of a range query: steps at start, start + step, ... up
/// to and including end.
struct EvalParams {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t step_ns = 0;
  std::size_t limit = 100;
  Direction direction = Direction::backward;
};

/// Runs a parsed log query over [start_ns, end_ns).
Result<QueryResult> evaluate_log_query(const LogExpr& log, const EvalParams& params,
                                       EntrySource& source, const Limits& limits);

/// Runs a parsed metric query at every step of `params`; the result is a
/// "matrix" (or "scalar"/"vector" when `instant`).
Result<QueryResult> evaluate_metric_query(const MetricNode& metric, const EvalParams& params,
                                          EntrySource& source, const Limits& limits,
                                          bool instant);

}  // namespace lognurse::logql
