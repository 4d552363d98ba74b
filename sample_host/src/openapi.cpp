#include "openapi.hpp"

#include "mcp.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

json error_response(const std::string& description) {
  return {{"description", description},
          {"content",
           {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
}

/// GET routes take their arguments as query parameters: one per top-level
/// property of the input schema (nested objects cannot be sent that way).
json query_parameters(const json& input) {
  json parameters = json::array();
  if (!input.contains("properties")) return parameters;
  const json required = input.value("required", json::array());
  for (const auto& [name, schema] : input["properties"].items()) {
    if (schema.value("type", json()) == "object") continue;
    const bool needed = std::find(required.begin(), required.end(), name) != required.end();
    json parameter = {{"name", name}, {"in", "query"}, {"required", needed}, {"schema", schema}};
    if (schema.contains("description")) parameter["description"] = schema["description"];
    parameters.push_back(std::move(parameter));
  }
  return parameters;
}

/// REST errors: {"status":"error","error":{"code":…,"message":…}}.
json error_schema() {
  json detail = {{"type", "object"},
                 {"required", {"code", "message"}},
                 {"properties",
                  {{"code", {{"type", "string"},
                             {"description", "stable identifier, e.g. logql.parse_error"}}},
                   {"message", {{"type", "string"},
                                {"description", "what was wrong and how to fix it"}}}}}};
  return {{"type", "object"},
          {"required", {"status", "error"}},
          {"properties",
           {{"status", {{"type", "string"}, {"const", "error"}}}, {"error", detail}}}};
}

}  // namespace

json openapi_document(const registry::Registry& registry) {
  json paths = json::object();
  for (const auto& tool : registry.tools()) {
    if (tool.spec.rest_path.empty()) continue;
    const json input = tool_input_schema(tool.spec);
    json output = tool_output_schema(tool.spec);
    json operation = {{"operationId", tool.full_name},
                      {"summary", tool.spec.title},
                      {"description", tool.spec.description},
                      {"tags", {tool.provider ? tool.provider->service_name() : "tools"}}};
    json success = {{"description", "The tool's answer"}};
    success["content"]["application/json"]["schema"] =
        output.is_object() ? output : json{{"type", "object"}};
    operation["responses"] = {{"200", success},
                              {"400", error_response("Invalid arguments or a query refused")},
                              {"404", error_response("Something named does not exist")},
                              {"503", error_response("No backend, or the backend is down")},
                              {"500", error_response("An unexpected failure")}};
    std::string method = tool.spec.http_method == "GET" ? "get" : "post";
    if (method == "get") {
      operation["parameters"] = query_parameters(input);
    } else {
      operation["requestBody"] = {
          {"required", input.contains("required")},
          {"content", {{"application/json", {{"schema", input}}}}}};
    }
    paths[tool.spec.rest_path][method] = std::move(operation);
  }
  return {{"openapi", "3.1.0"},
          {"info",
           {{"title", "lognurse REST API"},
            {"version", "0.1.0"},
            {"description", "The REST routes of the tools in the catalog; the same tools are "
                            "served over MCP at /mcp."}}},
          {"jsonSchemaDialect", "https://json-schema.org/draft/2020-12/schema"},
          {"paths", std::move(paths)},
          {"components", {{"schemas", {{"Error", error_schema()}}}}}};
}

}  // namespace lognurse::host
