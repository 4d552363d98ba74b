#pragma once

// Conversions between the value types and the JSON shapes of Loki's HTTP API.
// Both the host (which serves that API) and the Loki plugin (which calls it)
// use them, so the two can never disagree on a shape.

#include <string_view>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse {

/// Parses JSON text into `out`. Returns "" on success, else what is wrong in
/// words that can follow "the body is ...": "not valid JSON at byte 17",
/// "JSON with a number out of range (...)", or "JSON nested more than 256 levels
/// deep (...)". Never throws: nlohmann's parser reports an overflowing number as
/// out_of_range, not as a parse error. Bytes count from 1.
std::string parse_json_text(std::string_view text, nlohmann::json& out);

/// Loki's push body: {"streams":[{"stream":{..},"values":[["<ns>","line",{meta}]]}]}.
nlohmann::json push_request_to_json(const PushRequest& request);

/// Parses Loki's JSON push body. Errors name the stream and value index at
/// fault ("streams[2].values[7][0]: timestamp must be a string of digits").
Result<PushRequest> push_request_from_json(std::string_view body, const std::string& tenant);

/// The "data" member of Loki's query_range answer:
/// {"resultType":"streams","result":[...],"stats":{"summary":{...}}}.
nlohmann::json query_result_to_json(const QueryResult& result);

/// Parses the "data" member of a Loki query answer.
Result<QueryResult> query_result_from_json(const nlohmann::json& data);

nlohmann::json labels_to_json(const Labels& labels);

/// Parses {"name":"value",...}; every value must be a string.
Result<Labels> labels_from_json(const nlohmann::json& object, std::string_view where);

nlohmann::json log_metrics_to_json(const LogMetrics& metrics);
nlohmann::json health_to_json(const Health& health);

}  // namespace lognurse
