#pragma once

// How the store classifies entries for metrics: a level per entry and a
// service per stream, both decided once at push time and stored, so that the
// metrics query is a plain SQL aggregate.
//
// Level, first match wins:
//   1. the stream label detected_level, then level;
//   2. the structured metadata detected_level, then level;
//   3. a level field in the line: level=, lvl=, severity= (logfmt) or
//      "level":, "lvl":, "severity": (JSON), any case;
//   4. the first whole word of the line that is a level keyword, any case:
//      trace, debug/dbg, info/information/notice, warn/warning, error/err,
//      critical/crit, fatal/panic/emergency/alert;
//   5. otherwise "unknown".
// Values are normalized to trace, debug, info, warn, error, critical, fatal;
// other label values are kept as given (lower-cased). This is a simpler rule
// than Loki's detected_level and may differ from it on free text.
//
// Service: the stream label service_name, then service, app, application,
// job; otherwise "unknown_service".

#include <string>
#include <string_view>

#include "lognurse/host_api/types.hpp"

namespace lognurse::local_store {

/// Maps a level spelling ("ERR", "Warning", "notice") to its normalized name; other values
/// are returned lower-cased.
std::string normalize_level(std::string_view value);

/// The level of an entry by the rules above.
std::string classify_level(const Labels& stream_labels, const LogEntry& entry);

/// The service of a stream by the rules above.
std::string classify_service(const Labels& stream_labels);

/// Whether a normalized level counts as an error line (error, critical, fatal).
bool is_error_level(std::string_view level);

}  // namespace lognurse::local_store
