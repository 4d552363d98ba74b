#pragma once

// Checking of tool arguments. Every failure is an invalid_argument error that
// names the argument and says what it must be, so an agent can fix its call.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::nurse {

/// Fails when `arguments` is not an object or holds a key outside `allowed`.
Status check_object(const nlohmann::json& arguments, const std::vector<std::string>& allowed,
                    const std::string& where);

/// A string argument; nullopt when absent or null.
Result<std::optional<std::string>> optional_string(const nlohmann::json& arguments,
                                                   const std::string& key,
                                                   const std::string& where);

/// An integer in [min, max]; `fallback` when absent.
Result<std::int64_t> integer_in_range(const nlohmann::json& arguments, const std::string& key,
                                      std::int64_t fallback, std::int64_t min, std::int64_t max,
                                      const std::string& where);

/// A time given as RFC 3339, Unix seconds (string or number) or nanoseconds.
Result<std::optional<std::int64_t>> optional_time(const nlohmann::json& arguments,
                                                  const std::string& key,
                                                  const std::string& where);

/// The time range a read tool works on, and how it was chosen.
struct ResolvedRange {
  TimeRange range;
  std::string source;  ///< "arguments", or "default: the last 1h"
};

/// Reads start, end and since from `object` (any may be absent). Defaults:
/// end = now, start = end - since (since defaults to `default_since_ns`).
Result<ResolvedRange> resolve_range(const nlohmann::json& object, std::int64_t default_since_ns,
                                    const std::string& where);

/// How to widen `range` in a hint: a `since` longer than the range ("24h", then "7d"), or,
/// for a week or more, an earlier start.
std::string widen_suggestion(const TimeRange& range);

}  // namespace lognurse::nurse
