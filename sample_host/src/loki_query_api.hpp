#pragma once

// Loki's query API on the host's listener, over whichever log-aggregation backend is active:
// query, query_range, labels, label values, series, index stats and volume, detected labels
// and fields, patterns, format_query and status/buildinfo, under /loki/api/v1. Parameters,
// result shapes and error texts follow Loki's HTTP API, so that Grafana's Loki data source and
// logcli work against the host unchanged. The tenant is X-Scope-OrgID (default "fake") and
// every read goes to the backend with that tenant only.

#include <cstdint>
#include <map>
#include <string>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "lognurse/registry/registry.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

/// Registers the query routes on `server`; handlers look the backend up in `registry` per
/// request, so a backend loaded later is used.
void install_loki_query_api(httplib::Server& server, registry::Registry& registry);

/// Parses a timestamp as Loki does: a number with a '.' is Unix seconds (the fraction kept to
/// milliseconds), an integer of at most 10 digits is Unix seconds, a longer one nanoseconds,
/// anything else RFC 3339. `name` names the parameter in the error.
Result<std::int64_t> parse_loki_time(const std::string& value, const std::string& name);

/// Parses a step or interval as Loki does: a float number of seconds or a duration ("5m").
Result<std::int64_t> parse_loki_duration(const std::string& value, const std::string& name);

/// start/end/since as Loki reads them: end defaults to now; start to end - since (since
/// defaults to 1h), counted from now when end is in the future.
Result<TimeRange> parse_loki_bounds(const std::multimap<std::string, std::string>& params,
                                    std::int64_t now);

}  // namespace lognurse::host
