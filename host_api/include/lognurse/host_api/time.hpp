#pragma once

// Time values as users write them: RFC 3339, Unix seconds (with a fraction),
// Unix nanoseconds, and durations in Prometheus/Loki form ("1h30m", "250ms").

#include <cstdint>
#include <string>
#include <string_view>

#include "lognurse/host_api/result.hpp"

namespace lognurse {

/// Current wall-clock time in Unix nanoseconds.
std::int64_t now_ns();

/// Parses "2026-12-04T14:33:11.5Z", "2026-12-04T14:33:11+01:00", "1733322791",
/// "1733322791.25" or "1733322791000000000" (19 digits: nanoseconds).
Result<std::int64_t> parse_time(std::string_view text);

/// Parses "5m", "1h30m", "250ms", "10s", "2d", "1w" or plain seconds ("30").
Result<std::int64_t> parse_duration(std::string_view text);

/// RFC 3339 in UTC with nanoseconds: "2026-12-04T14:33:11.000000001Z".
std::string format_time(std::int64_t unix_ns);

/// Compact duration in Loki's style: "1h30m", "5m", "250ms", "0s".
std::string format_duration(std::int64_t ns);

inline constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

}  // namespace lognurse
