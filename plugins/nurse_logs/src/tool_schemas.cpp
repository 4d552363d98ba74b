#include "tool_schemas.hpp"

namespace lognurse::nurse {

using nlohmann::json;

namespace {

/// Must equal the host's keyword (sample_host's kOutputSchemaKeyword).
constexpr const char* kOutputSchemaKeyword = "x-output-schema";

}  // namespace


json with_output_schema(json input, json output) {
  input[kOutputSchemaKeyword] = std::move(output);
  return input;
}

json string_type() { return {{"type", "string"}}; }
json integer_type() { return {{"type", "integer"}, {"minimum", 0}}; }
json number_type() { return {{"type", "number"}}; }

json object_of(json properties, std::vector<std::string> required) {
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", required}};
}

/// Loki's query data (streams of [timestamp, line] or [timestamp, line, metadata])
/// or the compact form (lines grouped by stream).
static json query_data_schema() {
  json stream = object_of({{"stream", {{"type", "object"},
                                       {"additionalProperties", string_type()}}},
                           {"values", {{"type", "array"},
                                       {"items", {{"type", "array"},
                                                  {"minItems", 2},
                                                  {"maxItems", 3}}}}}},
                          {"stream", "values"});
  json series = object_of({{"metric", {{"type", "object"}}}, {"values", {{"type", "array"}}}},
                          {"metric"});
  json loki = object_of({{"resultType", {{"type", "string"},
                                         {"enum", {"streams", "matrix", "vector", "scalar"}}}},
                         {"result", {{"type", "array"}, {"items", {{"anyOf", {stream, series}}}}}},
                         {"stats", {{"type", "object"}}}},
                        {"resultType", "result"});
  json compact_stream = object_of({{"labels", {{"type", "object"},
                                               {"additionalProperties", string_type()}}},
                                   {"lines", {{"type", "array"}, {"items", string_type()}}}},
                                  {"labels", "lines"});
  json compact = object_of({{"resultType", {{"type", "string"}, {"const", "compact"}}},
                            {"streams", {{"type", "array"}, {"items", compact_stream}}}},
                           {"resultType", "streams"});
  return {{"anyOf", {loki, compact}}};
}

json time_range_result_schema() {
  return object_of({{"start", string_type()}, {"end", string_type()}, {"source", string_type()}},
                   {"start", "end", "source"});
}

json scan_estimate_schema() {
  return object_of({{"checked", {{"type", "boolean"}}},
                    {"budget_bytes", integer_type()},
                    {"estimated_bytes", integer_type()},
                    {"estimated_entries", integer_type()},
                    {"reason", string_type()}},
                   {"checked", "budget_bytes"});
}

/// The metadata block of every bounded log answer.
static json log_metadata_schema() {
  return object_of({{"query", string_type()},
                    {"lines_returned", integer_type()},
                    {"limit", integer_type()},
                    {"truncated", {{"type", "boolean"}}},
                    {"lines_cut", integer_type()},
                    {"lines_scanned", integer_type()},
                    {"bytes_scanned", integer_type()},
                    {"direction", {{"type", "string"}, {"enum", {"backward", "forward"}}}},
                    {"time_range", time_range_result_schema()},
                    {"scan_estimate", scan_estimate_schema()},
                    {"hints", {{"type", "array"}, {"items", string_type()}}}},
                   {"lines_returned", "limit", "truncated", "lines_scanned", "bytes_scanned",
                    "time_range", "scan_estimate"});
}

json success_status() { return {{"type", "string"}, {"const", "success"}}; }

json log_answer_schema(bool with_query) {
  json properties = {{"status", success_status()},
                     {"data", query_data_schema()},
                     {"metadata", log_metadata_schema()}};
  std::vector<std::string> required = {"status", "data", "metadata"};
  if (with_query) {
    properties["query"] = string_type();
    required.push_back("query");
  }
  return object_of(std::move(properties), std::move(required));
}

static json counts_schema() {
  return {{"type", "array"},
          {"items", object_of({{"name", string_type()}, {"lines", integer_type()}},
                                {"name", "lines"})}};
}

json monitor_schema() {
  json history_item = object_of({{"checked_at", string_type()},
                                 {"status", string_type()},
                                 {"latency_ms", number_type()}},
                                {"checked_at", "status", "latency_ms"});
  return object_of({{"status", {{"type", "string"}, {"enum", {"healthy", "degraded", "down"}}}},
                    {"checked_at", string_type()},
                    {"backend", string_type()},
                    {"ready", {{"type", "boolean"}}},
                    {"latency_ms", number_type()},
                    {"detail", string_type()},
                    {"volume", {{"type", "object"}}},
                    {"history", {{"type", "array"}, {"items", history_item}}}},
                   {"status", "checked_at", "backend", "ready", "latency_ms", "history"});
}

json metrics_schema() {
  return object_of({{"status", success_status()},
                    {"data", object_of({{"lines", integer_type()},
                                        {"bytes", integer_type()},
                                        {"by_level", counts_schema()},
                                        {"by_service", counts_schema()},
                                        {"error_lines", integer_type()},
                                        {"error_rate", number_type()},
                                        {"time_range", time_range_result_schema()},
                                        {"backend", string_type()}},
                                       {"lines", "bytes", "time_range", "backend"})}},
                   {"status", "data"});
}

}  // namespace lognurse::nurse
