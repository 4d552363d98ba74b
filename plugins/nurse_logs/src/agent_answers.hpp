#pragma once

// Helpers that make log answers usable by an agent without a second guess:
// hints when nothing matched, a compact form grouping lines by stream, the
// cost guard, and the clustering of lines into patterns.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arguments.hpp"
#include "lognurse/host_api/log_aggregation.hpp"

namespace lognurse::nurse {

/// {"start":…,"end":…,"source":…} with the inclusive end users gave.
nlohmann::json range_to_json(const ResolvedRange& range);

/// Number of entries over all streams.
std::uint64_t count_entries(const QueryResult& result);

/// Levenshtein distance, for the closest known value of a mistyped one.
std::size_t edit_distance(const std::string& a, const std::string& b);

/// Up to `count` of `known` closest to `wanted`, nearest first (ties in the
/// order of `known`).
std::vector<std::string> closest_values(const std::string& wanted,
                                        const std::vector<std::string>& known, std::size_t count);

/// Hints for a log query that returned nothing: for each equality matcher of
/// its selector whose label or value the backend does not know in the range,
/// the closest known names or values; otherwise that the selector's streams
/// hold no lines in the range, or that the pipeline filtered every line out.
/// Asks the backend for labels and label values, so call it only when empty.
std::vector<std::string> empty_result_hints(LogAggregationProtocol& backend,
                                            const std::string& tenant, const std::string& logql,
                                            const TimeRange& range);

/// The cost guard: refuses a range longer than `max_range_ns`, with a message
/// that says how to narrow it. (A selector without a matcher that needs a
/// value is refused by the LogQL parser, which every backend runs first.)
Status check_query_cost(const TimeRange& range, std::int64_t max_range_ns);

/// The compact form of a log result: {"resultType":"compact","streams":
/// [{"labels":{…},"lines":["<RFC 3339> <line>", …]}]}.
nlohmann::json compact_result(const QueryResult& result);

/// A line with its variable parts (numbers, hex ids, UUIDs, quoted strings,
/// IPs, durations) replaced by <_>, as Loki's patterns write them.
std::string line_pattern(const std::string& line);

}  // namespace lognurse::nurse
