#pragma once

// Validation of pushes, after Loki's distributor: the same limits, error
// wording close to Loki's, and a location ("streams[2].values[7]") so that the
// sender can find the entry at fault. A push is all or nothing: the first
// failure refuses the whole request and nothing is stored.

#include <cstdint>
#include <string>
#include <vector>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "store_config.hpp"

namespace lognurse::local_store {

/// A stream of a push that passed validation.
struct ValidatedStream {
  Labels labels;                      ///< sorted, unique names
  std::string key;                    ///< canonical rendering, {a="x", b="y"}
  std::uint64_t fingerprint = 0;      ///< 64-bit FNV-1a of `key`
  const LogStream* source = nullptr;  ///< the request's stream, for its entries
};

/// Checks a tenant ID like Loki: 1 to 150 bytes of letters, digits and !-_.*'(),
/// and neither "." nor "..". Fails with "store.invalid_tenant".
Status validate_tenant(const std::string& tenant);

/// Loki's service name discovery: a label set without service_name gets service_name set to
/// the value of the first label of `discovery` it has (an empty value does not count), else
/// to "unknown_service". An empty `discovery` leaves every label set as it is.
void add_service_name(Labels& labels, const std::vector<std::string>& discovery);

/// Checks every stream and entry of `request` against `limits` at wall-clock time `now_ns`.
/// Streams without entries are checked but left out of the result. A stream's labels are
/// checked as pushed, then given a service_name by `limits.discover_service_name`, so that a
/// stream at the label limit is not refused for the label the store adds. Error codes:
/// store.invalid_tenant, store.missing_labels, store.invalid_label_name,
/// store.duplicate_label_name, store.empty_label_value, store.too_many_labels,
/// store.label_name_too_long, store.label_value_too_long, store.line_too_long,
/// store.too_old, store.too_far_in_future, store.structured_metadata_too_large,
/// store.structured_metadata_too_many.
Result<std::vector<ValidatedStream>> validate_push(const PushRequest& request,
                                                   const StoreLimits& limits, std::int64_t now_ns);

/// Checks the time range of a read (query, labels, series, statistics, volume, patterns,
/// fields, metrics) like Loki's query frontend: the end must not come before the start
/// ("store.invalid_range"), and the range may be at most limits.max_query_length long
/// ("store.query_too_long", Loki's wording; 0 turns the check off). Instant queries have a
/// range of zero length. A metric query's range windows are not counted, as in Loki.
Status validate_query_range(const TimeRange& range, const StoreLimits& limits);

/// 64-bit FNV-1a of `text`: the stream fingerprint.
std::uint64_t fingerprint(std::string_view text);

/// Whether `name` matches [a-zA-Z_][a-zA-Z0-9_]*.
bool is_valid_label_name(std::string_view name);

}  // namespace lognurse::local_store
