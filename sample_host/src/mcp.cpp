#include "mcp.hpp"

#include <istream>
#include <map>
#include <ostream>

#include <spdlog/spdlog.h>

namespace lognurse::host {

using nlohmann::json;

namespace {

json rpc_error(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

json rpc_result(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

struct RpcFault {
  int code;
  std::string message;
};

}  // namespace

McpServer::McpServer(registry::Registry& registry) : registry_(registry) {}

const std::vector<std::string>& McpServer::supported_versions() {
  static const std::vector<std::string> versions = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                    "2024-11-05"};
  return versions;
}

json mcp_tool_description(const registry::CatalogTool& tool) {
  json description = {{"name", tool.full_name},
                      {"title", tool.spec.title},
                      {"description", tool.spec.description},
                      {"inputSchema", tool.spec.input_schema},
                      {"annotations",
                       {{"title", tool.spec.title},
                        {"readOnlyHint", tool.spec.read_only},
                        {"openWorldHint", false}}}};
  return description;
}

std::optional<std::string> McpServer::handle_text(const std::string& text) {
  json message;
  try {
    message = json::parse(text);
  } catch (const json::parse_error& e) {
    return rpc_error(nullptr, kParseError,
                     "parse error: the message is not valid JSON (byte " + std::to_string(e.byte) +
                         ")")
        .dump();
  }
  auto response = handle(message);
  if (!response) return std::nullopt;
  return response->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<json> McpServer::handle(const json& message) {
  if (!message.is_object()) {
    return rpc_error(nullptr, kInvalidRequest,
                     "invalid request: a JSON-RPC message must be an object (batches are not "
                     "supported)");
  }
  const bool has_id = message.contains("id");
  const json id = has_id ? message["id"] : json(nullptr);
  if (has_id && !(id.is_string() || id.is_number_integer())) {
    return rpc_error(nullptr, kInvalidRequest, "invalid request: id must be a string or an integer");
  }
  if (!message.contains("method")) {
    // A response from the client (we send no requests) or garbage.
    if (has_id && (message.contains("result") || message.contains("error"))) return std::nullopt;
    return rpc_error(id, kInvalidRequest, "invalid request: missing \"method\"");
  }
  if (message.value("jsonrpc", "") != "2.0") {
    return rpc_error(id, kInvalidRequest, "invalid request: \"jsonrpc\" must be \"2.0\"");
  }
  if (!message["method"].is_string()) {
    return rpc_error(id, kInvalidRequest, "invalid request: \"method\" must be a string");
  }
  const std::string method = message["method"].get<std::string>();
  const json params = message.value("params", json::object());
  if (!params.is_object()) {
    return has_id ? std::optional<json>(rpc_error(id, kInvalidParams, "params must be an object"))
                  : std::nullopt;
  }

  if (!has_id) {
    // Notifications: initialized, cancelled, roots changed... nothing to answer.
    spdlog::debug("mcp notification {}", method);
    return std::nullopt;
  }

  try {
    if (method == "initialize") return rpc_result(id, initialize(params));
    if (method == "ping") return rpc_result(id, json::object());
    if (method == "tools/list") return rpc_result(id, list_tools());
    if (method == "tools/call") return call_tool(params, id);
    if (method == "logging/setLevel") return rpc_result(id, set_level(params));
  } catch (const RpcFault& fault) {
    return rpc_error(id, fault.code, fault.message);
  }
  return rpc_error(id, kMethodNotFound, "method not found: " + method);
}

json McpServer::initialize(const json& params) {
  const auto& versions = supported_versions();
  std::string version = versions.front();
  if (params.contains("protocolVersion") && params["protocolVersion"].is_string()) {
    const auto requested = params["protocolVersion"].get<std::string>();
    for (const auto& v : versions) {
      if (v == requested) version = requested;
    }
  } else {
    throw RpcFault{kInvalidParams, "initialize needs params.protocolVersion (a string)"};
  }
  return {{"protocolVersion", version},
          {"capabilities", {{"tools", {{"listChanged", true}}}, {"logging", json::object()}}},
          {"serverInfo", {{"name", "lognurse"}, {"title", "lognurse log tools"},
                          {"version", "0.1.0"}}},
          {"instructions",
           "Log tools over the active log-aggregation backend. Start with "
           "nurse_monitor_log_aggregation, then nurse_search_logs or nurse_query_logs (LogQL)."}};
}

json McpServer::set_level(const json& params) {
  // MCP uses syslog severities; spdlog has fewer, so map each to the nearest.
  static const std::map<std::string, spdlog::level::level_enum> levels = {
      {"debug", spdlog::level::debug},    {"info", spdlog::level::info},
      {"notice", spdlog::level::info},    {"warning", spdlog::level::warn},
      {"error", spdlog::level::err},      {"critical", spdlog::level::critical},
      {"alert", spdlog::level::critical}, {"emergency", spdlog::level::critical}};
  const auto level = params.value("level", json()).is_string() ? params["level"].get<std::string>()
                                                               : std::string();
  const auto it = levels.find(level);
  if (it == levels.end()) {
    throw RpcFault{kInvalidParams, "logging/setLevel needs params.level, one of debug, info, "
                                   "notice, warning, error, critical, alert, emergency"};
  }
  spdlog::set_level(it->second);
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> logger) { logger->set_level(it->second); });
  return json::object();
}

json McpServer::list_tools() const {
  json tools = json::array();
  for (const auto& tool : registry_.tools()) tools.push_back(mcp_tool_description(tool));
  return {{"tools", std::move(tools)}};
}

json McpServer::call_tool(const json& params, const json& id) {
  if (!params.contains("name") || !params["name"].is_string()) {
    return rpc_error(id, kInvalidParams, "tools/call needs params.name, the tool's name");
  }
  const std::string name = params["name"].get<std::string>();
  if (!registry_.find_tool(name)) {
    return rpc_error(id, kInvalidParams, "unknown tool: " + name);
  }
  const json arguments = params.value("arguments", json::object());
  if (!arguments.is_object()) {
    return rpc_error(id, kInvalidParams, "params.arguments must be an object");
  }
  auto result = registry_.call_tool(name, arguments);
  if (!result) {
    const auto& error = result.error();
    spdlog::info("tool {} failed: {}: {}", name, error.code, error.message);
    return rpc_result(id, {{"content", {{{"type", "text"},
                                          {"text", error.code + ": " + error.message}}}},
                           {"structuredContent",
                            {{"status", "error"},
                             {"error", {{"code", error.code}, {"message", error.message}}}}},
                           {"isError", true}});
  }
  const json& value = result.value();
  return rpc_result(
      id, {{"content",
            {{{"type", "text"},
              {"text", value.dump(-1, ' ', false, json::error_handler_t::replace)}}}},
           {"structuredContent", value},
           {"isError", false}});
}

void McpServer::serve_stdio(std::istream& in, std::ostream& out) {
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line == "\r") continue;
    auto response = handle_text(line);
    if (response) {
      out << *response << '\n';
      out.flush();
    }
  }
}

}  // namespace lognurse::host
