#include "scan_budget.hpp"

#include <cstdio>
#include <variant>

#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/printer.hpp"

namespace lognurse::nurse {

using nlohmann::json;

namespace {

void collect(const logql::MetricNode& node, const TimeRange& range,
             std::vector<ScanTarget>& targets) {
  if (const auto* aggregation = std::get_if<logql::RangeAggregation>(&node.node)) {
    const std::int64_t back = aggregation->offset_ns;
    targets.push_back({logql::print_selector(aggregation->log.selector),
                       {range.start_ns - back - aggregation->range_ns, range.end_ns - back}});
  } else if (const auto* vector = std::get_if<logql::VectorAggregation>(&node.node)) {
    collect(*vector->inner, range, targets);
  } else if (const auto* binary = std::get_if<logql::BinaryExpr>(&node.node)) {
    collect(*binary->lhs, range, targets);
    collect(*binary->rhs, range, targets);
  } else if (const auto* replace = std::get_if<logql::LabelReplace>(&node.node)) {
    collect(*replace->inner, range, targets);
  }
  // Number and vector literals read nothing.
}

std::string targets_text(const std::vector<ScanTarget>& targets) {
  std::string out;
  for (const auto& target : targets) {
    if (!out.empty()) out += ", ";
    out += target.selector;
  }
  return out;
}

Error over_budget(const ScanEstimate& estimate, const std::vector<ScanTarget>& targets,
                  const TimeRange& range) {
  return limit_exceeded(
      kScanBudgetExceeded,
      "the query would read about " + readable_bytes(estimate.bytes) + " (" +
          std::to_string(estimate.bytes) + " bytes in " + std::to_string(estimate.entries) +
          " entries, estimated from the index statistics of " + targets_text(targets) +
          " over " + format_duration(range.end_ns - range.start_ns) +
          "), over the scan budget of " + readable_bytes(estimate.budget) + " (" +
          std::to_string(estimate.budget) +
          " bytes, plugins.nurse_logs.max_scan_bytes); narrow it with a shorter range (since "
          "\"15m\", or start and end) or a more specific selector (more label matchers, e.g. "
          "service_name=\"…\" and detected_level=\"error\"), or raise "
          "plugins.nurse_logs.max_scan_bytes");
}

}  // namespace

Result<std::vector<ScanTarget>> scan_targets(const std::string& logql, const TimeRange& range) {
  auto parsed = logql::parse(logql);
  if (!parsed) return parsed.error();
  std::vector<ScanTarget> targets;
  if (const auto* log = std::get_if<logql::LogExpr>(&parsed.value())) {
    targets.push_back({logql::print_selector(log->selector), range});
  } else {
    collect(std::get<logql::MetricNode>(parsed.value()), range, targets);
  }
  return targets;
}

json ScanEstimate::to_json() const {
  json out = {{"checked", checked}, {"budget_bytes", budget}};
  if (checked) {
    out["estimated_bytes"] = bytes;
    out["estimated_entries"] = entries;
  } else {
    out["reason"] = reason;
  }
  return out;
}

Result<ScanEstimate> check_scan_budget(LogAggregationProtocol& backend, const std::string& tenant,
                                       const std::vector<std::string>& logql,
                                       const TimeRange& range, std::uint64_t max_scan_bytes) {
  ScanEstimate estimate;
  estimate.budget = max_scan_bytes;
  if (max_scan_bytes == 0) {
    estimate.reason = "plugins.nurse_logs.max_scan_bytes is 0, which turns the scan budget off";
    return estimate;
  }

  std::vector<ScanTarget> targets;
  for (const auto& query : logql) {
    auto found = scan_targets(query, range);
    if (!found) return found.error();
    targets.insert(targets.end(), found.value().begin(), found.value().end());
  }
  for (const auto& target : targets) {
    auto stats = backend.stats(tenant, target.selector, target.range);
    if (!stats) {
      estimate.reason = "the " + backend.backend_name() +
                        " backend gave no index statistics, so the scan budget was not "
                        "checked: " +
                        stats.error().code + ": " + stats.error().message;
      return estimate;
    }
    estimate.bytes += stats.value().bytes;
    estimate.entries += stats.value().entries;
  }
  estimate.checked = true;
  if (estimate.bytes > max_scan_bytes) return over_budget(estimate, targets, range);
  return estimate;
}

std::string scan_budget_note(std::uint64_t max_scan_bytes) {
  if (max_scan_bytes == 0) {
    return "The scan budget is off (plugins.nurse_logs.max_scan_bytes: 0); "
           "metadata.scan_estimate says so.";
  }
  return "A query whose index statistics estimate more than " + readable_bytes(max_scan_bytes) +
         " read (plugins.nurse_logs.max_scan_bytes) is refused with " + kScanBudgetExceeded +
         " before it runs: narrow the range or the selector; metadata.scan_estimate gives the "
         "estimate.";
}

std::string readable_bytes(std::uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return std::to_string(bytes) + " B";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

}  // namespace lognurse::nurse
