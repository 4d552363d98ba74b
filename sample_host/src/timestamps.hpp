#pragma once

// Finds the timestamp of a log line in the common forms of files on a Linux
// machine. Times without a zone are taken as UTC.

#include <cstdint>
#include <optional>
#include <string_view>

namespace lognurse::host {

/// Recognises, in this order:
///  - RFC 3339 / ISO 8601 at the start: 2026-12-04T14:33:11Z, …T14:33:11.25+01:00
///  - "YYYY-MM-DD HH:MM:SS[.fff]" or "YYYY/MM/DD HH:MM:SS" at the start
///    (dpkg, nginx error log, many applications)
///  - nginx/Apache common log format anywhere: [04/Dec/2026:14:33:11 +0000]
///  - classic syslog at the start: "Dec  4 14:33:11" (year from `reference_ns`:
///    the latest year that does not put the line more than a day after it)
/// Returns Unix nanoseconds, or nullopt when none of these is found.
std::optional<std::int64_t> parse_line_timestamp(std::string_view line, std::int64_t reference_ns);

}  // namespace lognurse::host
