#pragma once

// The Nurse log tools: the service "nurse" offering monitor_log_aggregation,
// query_logs, search_logs and get_log_metrics over the active log-aggregation
// backend. Answers are bounded for agents: a default and maximum line limit,
// long lines cut with a visible marker, and a metadata block saying what was
// returned, whether more exists, and what range was used.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/tool_provider.hpp"
#include "monitor.hpp"

namespace lognurse::nurse {

struct NurseOptions {
  std::string tenant = kDefaultTenant;
  std::int64_t default_limit = 100;
  std::int64_t max_limit = 1000;
  std::size_t max_line_length = 2000;
  std::int64_t default_range_ns = 3600LL * 1'000'000'000;  ///< the last hour
  /// The longest range a log query may cover (the cost guard); default 24 h.
  std::int64_t max_range_ns = 24 * 3600LL * 1'000'000'000;
  /// The most bytes a log tool's queries may read, estimated from index
  /// statistics (the cost guard's scan budget); 0 turns it off. Default 10 GiB.
  std::uint64_t max_scan_bytes = 10ULL << 30U;
  /// How many matching lines find_error_patterns reads at most (Loki's
  /// per-query entry limit, 5000, caps it).
  std::int64_t pattern_scan_lines = 2000;
};

/// Reads the plugin's config section; unknown keys and wrong types are errors.
Result<NurseOptions> parse_nurse_options(const nlohmann::json& config,
                                         MonitorOptions& monitor_options);

class NurseTools final : public ToolProvider {
public:
  using Lookup = std::function<std::shared_ptr<LogAggregationProtocol>()>;

  NurseTools(Lookup lookup, NurseOptions options, std::shared_ptr<Monitor> monitor);

  std::string service_name() const override { return "nurse"; }
  std::vector<ToolSpec> tools() const override;
  Result<nlohmann::json> call(const std::string& name, const nlohmann::json& arguments) override;

private:
  Result<std::shared_ptr<LogAggregationProtocol>> backend() const;

  Result<nlohmann::json> monitor_log_aggregation(const nlohmann::json& arguments);
  Result<nlohmann::json> query_logs(const nlohmann::json& arguments);
  Result<nlohmann::json> search_logs(const nlohmann::json& arguments);
  Result<nlohmann::json> get_log_metrics(const nlohmann::json& arguments);
  Result<nlohmann::json> list_labels(const nlohmann::json& arguments);
  Result<nlohmann::json> label_values(const nlohmann::json& arguments);
  Result<nlohmann::json> tail_logs(const nlohmann::json& arguments);
  Result<nlohmann::json> get_trace_logs(const nlohmann::json& arguments);
  Result<nlohmann::json> find_error_patterns(const nlohmann::json& arguments);

  /// The specs of the discovery tools (labels, values, tail, trace, patterns).
  std::vector<ToolSpec> discovery_tools() const;

  /// Runs a bounded log query and builds the answer every log tool shares:
  /// data in Loki's or the compact form, and the metadata block with hints
  /// when nothing matched.
  Result<nlohmann::json> bounded_query(LogQuery query, std::int64_t limit,
                                       const std::string& range_source, bool compact);

  Lookup lookup_;
  NurseOptions options_;
  std::shared_ptr<Monitor> monitor_;
};

/// The "format" argument: false for "loki" (the default), true for "compact".
Result<bool> parse_compact_format(const nlohmann::json& arguments, const std::string& where);

/// Bounds a log result to `limit` entries (the backend was asked for one
/// more, to learn whether the answer is truncated) and cuts lines longer than
/// `max_line_length`. Returns whether entries were dropped.
bool bound_result(QueryResult& result, std::size_t limit, Direction direction,
                  std::size_t max_line_length, std::size_t& lines_cut);

}  // namespace lognurse::nurse
