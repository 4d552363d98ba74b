#pragma once

// The scan budget of the cost guard: before a log tool runs its queries, the
// bytes they would read are estimated from the backend's index statistics
// (stats() of each stream selector over the range its data is read from) and
// a query over plugins.nurse_logs.max_scan_bytes is refused with
// nurse.scan_budget_exceeded. The estimate is an upper bound: line filters and
// parsers do not shrink what a backend reads, and a query whose answer is cut
// at its line limit may stop early.
//
// When the backend cannot answer stats() (unsupported, or failing), nothing is
// refused: the answer's metadata says that the budget was not checked and why.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/log_aggregation.hpp"

namespace lognurse::nurse {

/// The code of a query refused for its estimated scan.
inline constexpr const char* kScanBudgetExceeded = "nurse.scan_budget_exceeded";

/// One stream selector of a query and the range its data is read from.
struct ScanTarget {
  std::string selector;  ///< canonical LogQL, e.g. {service_name="api"}
  TimeRange range;
};

/// The selectors of `logql` and their ranges: the query's range, reaching
/// back by a range aggregation's range and shifted back by its offset. Fails
/// with logql.parse_error as the backend would.
Result<std::vector<ScanTarget>> scan_targets(const std::string& logql, const TimeRange& range);

/// What the check found; metadata.scan_estimate of an answer.
struct ScanEstimate {
  bool checked = false;       ///< whether the budget was compared with an estimate
  std::uint64_t bytes = 0;    ///< estimated bytes read, when checked
  std::uint64_t entries = 0;  ///< estimated entries read, when checked
  std::uint64_t budget = 0;   ///< max_scan_bytes; 0 when the budget is off
  std::string reason;         ///< why it was not checked

  /// {"checked":…,"budget_bytes":…} plus "estimated_bytes" and
  /// "estimated_entries", or "reason".
  nlohmann::json to_json() const;
};

/// Estimates the bytes the queries `logql` (run one after the other over
/// `range` for `tenant`) read and refuses them, with kScanBudgetExceeded and a
/// message giving the estimate, the budget and how to narrow, when it exceeds
/// `max_scan_bytes`. A budget of 0 turns the check off without a stats call.
/// One stats() call per selector.
Result<ScanEstimate> check_scan_budget(LogAggregationProtocol& backend, const std::string& tenant,
                                       const std::vector<std::string>& logql,
                                       const TimeRange& range, std::uint64_t max_scan_bytes);

/// The sentence tool descriptions carry about the budget `max_scan_bytes`.
std::string scan_budget_note(std::uint64_t max_scan_bytes);

/// "1.5 GiB", "300 B": bytes for a message, binary units, one decimal.
std::string readable_bytes(std::uint64_t bytes);

}  // namespace lognurse::nurse
