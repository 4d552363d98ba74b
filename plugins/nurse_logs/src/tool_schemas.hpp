#pragma once

// JSON Schemas of the Nurse tools' answers, listed as each tool's
// outputSchema (MCP) and response schema (OpenAPI).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lognurse::nurse {

/// Returns `input` with `output` under the output-schema annotation keyword.
/// The ABI's ToolSpec has no output-schema field; the host reads the result
/// schema from this keyword of the input schema and lists it as outputSchema.
nlohmann::json with_output_schema(nlohmann::json input, nlohmann::json output);

/// {"type":"object","properties":…,"required":…}.
nlohmann::json object_of(nlohmann::json properties, std::vector<std::string> required);

nlohmann::json string_type();
nlohmann::json integer_type();  ///< a non-negative integer
nlohmann::json number_type();
nlohmann::json success_status();  ///< the constant "success"
nlohmann::json time_range_result_schema();

/// metadata.scan_estimate: whether the scan budget was checked, the budget,
/// and the estimate or why there is none.
nlohmann::json scan_estimate_schema();

/// A bounded log answer: status, data (Loki's or the compact form) and the
/// metadata block; `with_query` adds the LogQL the tool ran.
nlohmann::json log_answer_schema(bool with_query);

nlohmann::json monitor_schema();
nlohmann::json metrics_schema();

}  // namespace lognurse::nurse
