#pragma once

// OTLP logs: decoders of ExportLogsServiceRequest in OTLP/HTTP's protobuf and
// JSON encodings, the mapping to Loki streams that Loki 3 applies, and the
// encoders of OTLP/HTTP responses.
//
// Field numbers (opentelemetry-proto, collector/logs/v1, logs/v1, common/v1, resource/v1):
//   ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
//   ResourceLogs   { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url =
//   3; } Resource       { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
//   ScopeLogs      { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
//   InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3;
//                          uint32 dropped_attributes_count = 4; }
//   LogRecord      { fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11;
//                    SeverityNumber severity_number = 2; string severity_text = 3;
//                    AnyValue body = 5; repeated KeyValue attributes = 6;
//                    uint32 dropped_attributes_count = 7; fixed32 flags = 8;
//                    bytes trace_id = 9; bytes span_id = 10; }
//   KeyValue       { string key = 1; AnyValue value = 2; }
//   AnyValue       { oneof { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
//                    double double_value = 4; ArrayValue array_value = 5;
//                    KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
//   ArrayValue, KeyValueList { repeated AnyValue / KeyValue values = 1; }
//   ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }
//   ExportLogsPartialSuccess  { int64 rejected_log_records = 1; string error_message = 2; }
//   google.rpc.Status         { int32 code = 1; string message = 2; }
//
// Mapping (Loki 3's defaults):
// - The default resource attributes (kOtlpIndexAttributes) become stream labels, with every
//   character outside [a-zA-Z0-9_] turned into '_' (service.name -> service_name).
// - Without service.name, service_name is the first label in Loki's discovery list
//   (kServiceNameDiscovery) that the stream has, else "unknown_service".
// - Every other resource attribute, every scope attribute, and every log attribute becomes
//   structured metadata under the same normalized name; map values are flattened with '_'
//   (http.request.header = {a: 1} -> http_request_header_a). Scope name and version become
//   scope_name and scope_version.
// - The record adds observed_timestamp (when time is set too), severity_number,
//   severity_text, dropped_attributes_count, flags, and trace_id / span_id as lowercase hex.
// - detected_level is a log attribute named level, severity or lvl when there is one, else
//   the severity number's range (trace, debug, info, warn, error, fatal; unknown outside
//   1..24). A record without either gets no detected_level, and the store classifies it.
// - The body becomes the line; a non-string body is rendered as OTLP's AsString does (JSON
//   for maps and arrays, base64 for bytes). The timestamp is time_unix_nano, else
//   observed_time_unix_nano, else the time of receipt.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::host {

struct OtlpKeyValue;

/// OTLP's AnyValue.
struct OtlpValue {
  enum class Kind { empty, string, boolean, integer, floating, bytes, array, kvlist };
  Kind kind = Kind::empty;
  std::string text;  ///< string_value, or the raw bytes of bytes_value
  bool boolean = false;
  std::int64_t integer = 0;
  double floating = 0;
  std::vector<OtlpValue> items;                           ///< array_value
  std::vector<OtlpKeyValue> fields;  ///< kvlist_value
};

/// OTLP's KeyValue, with std::pair's member names. A struct rather than a
/// pair, because OtlpValue holds a vector of them while it is still incomplete
/// and std::pair of an incomplete type does not compile everywhere (clang).
struct OtlpKeyValue {
  std::string first;
  OtlpValue second;
};

/// A list of KeyValue.
using OtlpAttributes = std::vector<OtlpKeyValue>;

/// One LogRecord, as decoded; empty fields are zero or empty.
struct OtlpLogRecord {
  std::uint64_t time_unix_nano = 0;
  std::uint64_t observed_time_unix_nano = 0;
  int severity_number = 0;
  std::string severity_text;
  OtlpValue body;
  OtlpAttributes attributes;
  std::uint32_t dropped_attributes_count = 0;
  std::uint32_t flags = 0;
  std::string trace_id;  ///< raw bytes: 16, or empty
  std::string span_id;   ///< raw bytes: 8, or empty
};

/// One ScopeLogs: the instrumentation scope and its records.
struct OtlpScopeLogs {
  std::string name;
  std::string version;
  OtlpAttributes attributes;
  std::uint32_t dropped_attributes_count = 0;
  std::vector<OtlpLogRecord> records;
};

/// One ResourceLogs: the resource's attributes and its scopes.
struct OtlpResourceLogs {
  OtlpAttributes attributes;
  std::vector<OtlpScopeLogs> scopes;
};

/// A decoded ExportLogsServiceRequest.
struct OtlpLogs {
  std::vector<OtlpResourceLogs> resources;

  /// Number of log records in all resources and scopes.
  std::size_t record_count() const;
};

/// Resource attributes that become stream labels by default, as in Loki 3.
extern const std::vector<std::string_view> kOtlpIndexAttributes;

/// Loki's default discover_service_name list, in order of preference.
extern const std::vector<std::string_view> kServiceNameDiscovery;

/// Decodes the protobuf encoding. Errors ("otlp.malformed_protobuf") name the byte offset
/// and the path, e.g. resource_logs[0].scope_logs[1].log_records[3].trace_id.
Result<OtlpLogs> otlp_logs_from_protobuf(std::string_view message);

/// Decodes the JSON encoding (lowerCamelCase names; the proto names are accepted too).
/// 64-bit integers may be strings or numbers, traceId and spanId are hex, bytesValue is
/// base64, severityNumber may be a number or the enum name. Errors ("otlp.malformed_json")
/// name the path.
Result<OtlpLogs> otlp_logs_from_json(std::string_view body);

/// Turns an attribute key into a label name: characters outside [a-zA-Z0-9_] become '_',
/// and a leading digit gets the prefix "key_".
std::string normalize_attribute_name(std::string_view key);

/// The value as a string, as OTLP's AsString renders it.
std::string otlp_value_to_string(const OtlpValue& value);

/// Maps the logs to Loki streams, one per distinct label set, entries in record order.
/// `receipt_ns` stamps records that carry neither timestamp.
PushRequest otlp_logs_to_push(const OtlpLogs& logs, const std::string& tenant,
                              std::int64_t receipt_ns);

/// ExportLogsServiceResponse: empty on full success, else partial_success with the count of
/// rejected records and the reason.
std::string otlp_response_protobuf(std::int64_t rejected, const std::string& message);

/// The JSON form of the same response: {} or {"partialSuccess": {...}}.
std::string otlp_response_json(std::int64_t rejected, const std::string& message);

/// google.rpc.Status with a gRPC code (3 invalid argument, 8 resource exhausted,
/// 14 unavailable, 13 internal), in protobuf or JSON.
std::string otlp_status_protobuf(int grpc_code, const std::string& message);

/// The JSON form of google.rpc.Status: {"code": 3, "message": "..."}.
std::string otlp_status_json(int grpc_code, const std::string& message);

}  // namespace lognurse::host
