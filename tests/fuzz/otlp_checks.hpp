#pragma once

// Invariants of decoded OTLP logs and of their mapping to Loki streams, shared
// by the fuzz targets of the protobuf and JSON decoders.

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_checks.hpp"
#include "otlp.hpp"

namespace lognurse::fuzz {

/// How deep values may nest: the decoders refuse a value more than 32 levels below a body
/// (an attribute's value starts one level down, a kvlist entry's two).
constexpr int kMaxOtlpDepth = 32;

inline void check_otlp_value(const host::OtlpValue& value, int depth) {
  using Kind = host::OtlpValue::Kind;
  require(depth <= kMaxOtlpDepth, "an AnyValue nested deeper than the decoders allow");
  require(value.kind == Kind::array || value.items.empty(), "array items on a non-array value");
  require(value.kind == Kind::kvlist || value.fields.empty(), "kvlist fields on a non-kvlist value");
  for (const auto& item : value.items) check_otlp_value(item, depth + 1);
  for (const auto& field : value.fields) check_otlp_value(field.second, depth + 1);
  (void)host::otlp_value_to_string(value);
}

inline void check_otlp_attributes(const host::OtlpAttributes& attributes) {
  for (const auto& attribute : attributes) check_otlp_value(attribute.second, 1);
}

/// The well-formedness of decoded logs, then of the push request they map to.
inline void check_otlp_logs(const host::OtlpLogs& logs) {
  constexpr auto kMaxTime = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (const auto& resource : logs.resources) {
    check_otlp_attributes(resource.attributes);
    for (const auto& scope : resource.scopes) {
      check_otlp_attributes(scope.attributes);
      for (const auto& record : scope.records) {
        require(record.trace_id.empty() || record.trace_id.size() == 16,
                "a trace_id that is neither empty nor 16 bytes");
        require(record.span_id.empty() || record.span_id.size() == 8,
                "a span_id that is neither empty nor 8 bytes");
        require(record.time_unix_nano <= kMaxTime && record.observed_time_unix_nano <= kMaxTime,
                "a timestamp beyond nanosecond time");
        check_otlp_attributes(record.attributes);
        check_otlp_value(record.body, 0);
      }
    }
  }

  constexpr std::int64_t kReceipt = 1'700'000'000'000'000'000;
  const PushRequest push = host::otlp_logs_to_push(logs, "fuzz", kReceipt);
  require(push.tenant == "fuzz", "the mapped push lost the tenant");
  std::size_t entries = 0;
  std::set<Labels> seen;
  for (const auto& stream : push.streams) {
    check_label_set(stream.labels);
    const std::string* service = find_label(stream.labels, "service_name");
    require(service != nullptr && !service->empty(), "a mapped stream without a service_name");
    require(seen.insert(stream.labels).second, "two mapped streams with the same labels");
    require(!stream.entries.empty(), "a mapped stream without entries");
    for (const auto& entry : stream.entries) {
      require(entry.timestamp_ns >= 0, "a mapped entry with a negative timestamp");
    }
    entries += stream.entries.size();
  }
  require(entries == logs.record_count(), "the mapping lost or added records");
}

/// Decoding either succeeds with well-formed logs or refuses with a code and a message; the
/// answers the route would send for either parse as what they claim to be.
inline void check_otlp_result(const Result<host::OtlpLogs>& logs) {
  if (logs) {
    check_otlp_logs(logs.value());
    return;
  }
  check_refusal(logs.error());
  require(nlohmann::json::accept(host::otlp_status_json(3, logs.error().message)),
          "the JSON error status does not parse");
  require(nlohmann::json::accept(host::otlp_response_json(1, logs.error().message)),
          "the JSON partial-success response does not parse");
}

}  // namespace lognurse::fuzz
