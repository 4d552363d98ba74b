#include "mcp.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <istream>
#include <mutex>
#include <ostream>
#include <string_view>
#include <thread>

#include <spdlog/spdlog.h>

#include "host_metrics.hpp"
#include "lognurse/host_api/json.hpp"

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

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool is_content_block(const json& block) {
  static const std::vector<std::string> types = {"text", "image", "audio", "resource",
                                                 "resource_link"};
  if (!block.is_object() || !block.contains("type") || !block["type"].is_string()) return false;
  return std::find(types.begin(), types.end(), block["type"].get<std::string>()) != types.end();
}

/// Whether a tool's value is already an MCP tool result: {"content":[content blocks…]}.
bool is_tool_result(const json& value) {
  if (!value.is_object()) return false;
  const auto content = value.find("content");
  return content != value.end() && content->is_array() && !content->empty() &&
         std::all_of(content->begin(), content->end(), is_content_block);
}

const json kNullId = nullptr;
const json kEmptyObject = json::object();

}  // namespace

McpServer::McpServer(registry::Registry& registry) : registry_(registry) {
  install_log_forwarder();
}

const std::vector<std::string>& McpServer::supported_versions() {
  static const std::vector<std::string> versions = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                    "2024-11-05"};
  return versions;
}

json tool_input_schema(const ToolSpec& spec) {
  json schema = spec.input_schema;
  if (schema.is_object()) schema.erase(kOutputSchemaKeyword);
  return schema;
}

json tool_output_schema(const ToolSpec& spec) {
  if (!spec.input_schema.is_object()) return nullptr;
  const auto it = spec.input_schema.find(kOutputSchemaKeyword);
  return it == spec.input_schema.end() ? json(nullptr) : *it;
}

json mcp_tool_description(const registry::CatalogTool& tool) {
  json description = {{"name", tool.full_name},
                      {"title", tool.spec.title},
                      {"description", tool.spec.description},
                      {"inputSchema", tool_input_schema(tool.spec)},
                      {"annotations",
                       {{"title", tool.spec.title},
                        {"readOnlyHint", tool.spec.read_only},
                        {"openWorldHint", false}}}};
  json output = tool_output_schema(tool.spec);
  if (output.is_object()) description["outputSchema"] = std::move(output);
  return description;
}

json tool_result_to_mcp(const json& value) {
  if (is_tool_result(value)) {
    json result = {{"content", value["content"]}, {"isError", false}};
    if (value.contains("structuredContent")) {
      result["structuredContent"] = value["structuredContent"];
    }
    return result;
  }
  return {{"content", {{{"type", "text"}, {"text", dump(value)}}}},
          {"structuredContent", value},
          {"isError", false}};
}

std::string tool_call_response_text(const json& id, const json& value) {
  const std::string text = dump(value);
  const std::string escaped = dump(json(text));
  const std::string id_text = dump(id);
  // Members in the order dump() writes them (sorted), so the bytes are those of dumping the
  // whole response.
  constexpr std::string_view kHead = R"({"id":)";
  constexpr std::string_view kContent = R"(,"jsonrpc":"2.0","result":{"content":[{"text":)";
  constexpr std::string_view kStructured =
      R"(,"type":"text"}],"isError":false,"structuredContent":)";
  constexpr std::string_view kTail = "}}";
  std::string out;
  out.reserve(kHead.size() + id_text.size() + kContent.size() + escaped.size() +
              kStructured.size() + text.size() + kTail.size());
  out.append(kHead).append(id_text).append(kContent).append(escaped).append(kStructured);
  out.append(text).append(kTail);
  return out;
}

std::optional<std::string> McpServer::handle_text(const std::string& text, McpSession& session) {
  json message;
  if (const auto problem = parse_json_text(text, message); !problem.empty()) {
    return rpc_error(nullptr, kParseError, "parse error: the message is " + problem).dump();
  }
  return handle(message, session);
}

std::optional<std::string> McpServer::handle(const json& message, McpSession& session) {
  if (!message.is_object()) {
    return dump(rpc_error(nullptr, kInvalidRequest,
                          "invalid request: a JSON-RPC message must be an object (batches are "
                          "not supported)"));
  }
  const auto id_member = message.find("id");
  const bool has_id = id_member != message.end();
  const json& id = has_id ? *id_member : kNullId;
  if (has_id && !(id.is_string() || id.is_number_integer())) {
    return dump(rpc_error(nullptr, kInvalidRequest,
                          "invalid request: id must be a string or an integer"));
  }
  const auto method_member = message.find("method");
  if (method_member == message.end()) {
    // A response from the client (we send no requests) or garbage.
    if (has_id && (message.contains("result") || message.contains("error"))) return std::nullopt;
    return dump(rpc_error(id, kInvalidRequest, "invalid request: missing \"method\""));
  }
  // find(), not value(): value() throws when the member is not a string.
  const auto jsonrpc = message.find("jsonrpc");
  if (jsonrpc == message.end() || *jsonrpc != "2.0") {
    return dump(rpc_error(id, kInvalidRequest, "invalid request: \"jsonrpc\" must be \"2.0\""));
  }
  if (!method_member->is_string()) {
    return dump(rpc_error(id, kInvalidRequest, "invalid request: \"method\" must be a string"));
  }
  const std::string& method = method_member->get_ref<const std::string&>();
  const auto params_member = message.find("params");
  const json& params = params_member == message.end() ? kEmptyObject : *params_member;
  if (!params.is_object()) {
    if (!has_id) return std::nullopt;
    return dump(rpc_error(id, kInvalidParams, "params must be an object"));
  }

  if (!has_id) {
    // Notifications: initialized, cancelled, roots changed... nothing to answer.
    spdlog::debug("mcp notification {}", method);
    return std::nullopt;
  }

  try {
    if (method == "tools/call") return call_tool(params, id, session);
    if (method == "initialize") return dump(rpc_result(id, initialize(params, session)));
    if (method == "ping") return dump(rpc_result(id, json::object()));
    if (method == "tools/list") return dump(rpc_result(id, list_tools()));
    if (method == "logging/setLevel") return dump(rpc_result(id, set_level(params, session)));
  } catch (const RpcFault& fault) {
    return dump(rpc_error(id, fault.code, fault.message));
  }
  return dump(rpc_error(id, kMethodNotFound, "method not found: " + method));
}

json McpServer::initialize(const json& params, McpSession& session) {
  if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string()) {
    throw RpcFault{kInvalidParams, "initialize needs params.protocolVersion (a string)"};
  }
  // An unknown version is answered with the newest one we speak; the client
  // then decides whether it can use it.
  const auto& versions = supported_versions();
  const auto requested = params["protocolVersion"].get<std::string>();
  const bool known = std::find(versions.begin(), versions.end(), requested) != versions.end();
  session.protocol_version = known ? requested : versions.front();
  return {{"protocolVersion", session.protocol_version},
          {"capabilities", {{"tools", {{"listChanged", true}}}, {"logging", json::object()}}},
          {"serverInfo", {{"name", "lognurse"}, {"title", "lognurse log tools"},
                          {"version", "0.1.0"}}},
          {"instructions",
           "Log tools over the active log-aggregation backend. Start with "
           "nurse_monitor_log_aggregation, then nurse_search_logs or nurse_query_logs (LogQL)."}};
}

json McpServer::set_level(const json& params, McpSession& session) {
  McpLogLevel level;
  if (!params.contains("level") || !params["level"].is_string() ||
      !parse_mcp_log_level(params["level"].get<std::string>(), level)) {
    throw RpcFault{kInvalidParams, "logging/setLevel needs params.level, one of debug, info, "
                                   "notice, warning, error, critical, alert, emergency"};
  }
  // The level decides what this client is sent, not what the host logs.
  session.log_level = level;
  return json::object();
}

json McpServer::list_tools() const {
  json tools = json::array();
  for (const auto& tool : registry_.tools()) tools.push_back(mcp_tool_description(tool));
  return {{"tools", std::move(tools)}};
}

std::string McpServer::call_tool(const json& params, const json& id, McpSession& session) {
  const auto name_member = params.find("name");
  if (name_member == params.end() || !name_member->is_string()) {
    return dump(rpc_error(id, kInvalidParams, "tools/call needs params.name, the tool's name"));
  }
  const std::string& name = name_member->get_ref<const std::string&>();
  if (!registry_.has_tool(name)) {
    return dump(rpc_error(id, kInvalidParams, "unknown tool: " + name +
                                                  "; tools/list names the tools this server has"));
  }
  const auto arguments_member = params.find("arguments");
  const json& arguments = arguments_member == params.end() ? kEmptyObject : *arguments_member;
  if (!arguments.is_object()) {
    return dump(rpc_error(id, kInvalidParams, "params.arguments must be an object"));
  }

  std::optional<ScopedLogCapture> capture;
  if (session.log_level && session.notify) {
    const McpLogLevel threshold = *session.log_level;
    capture.emplace([&session, threshold](McpLogLevel level, const std::string& logger,
                                          const std::string& text) {
      if (level < threshold) return;
      session.notify({{"jsonrpc", "2.0"},
                      {"method", "notifications/message"},
                      {"params",
                       {{"level", to_string(level)}, {"logger", logger}, {"data", text}}}});
    });
  }
  const auto started = std::chrono::steady_clock::now();
  auto result = registry_.call_tool(name, arguments);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  capture.reset();
  HostMetrics::instance().record_tool_call(name, session.transport, result ? "ok" : "error",
                                           elapsed.count());

  if (!result) {
    const auto& error = result.error();
    spdlog::info("tool {} failed: {}: {}", name, error.code, error.message);
    // No structuredContent: clients check it against the tool's outputSchema,
    // which describes the successful answer; the code leads the text instead.
    return dump(rpc_result(id, {{"content", {{{"type", "text"},
                                               {"text", error.code + ": " + error.message}}}},
                                {"isError", true}}));
  }
  const json& value = result.value();
  if (is_tool_result(value)) return dump(rpc_result(id, tool_result_to_mcp(value)));
  return tool_call_response_text(id, value);
}

void McpServer::serve_stdio(std::istream& in, std::ostream& out) {
  std::mutex out_mutex;
  auto write = [&](const std::string& text) {
    std::lock_guard lock(out_mutex);
    out << text << '\n';
    out.flush();
  };
  McpSession session;
  session.notify = [&](const json& notification) { write(dump(notification)); };

  // The catalog grows when a plugin is dropped into a watched directory.
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    auto generation = registry_.generation();
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const auto current = registry_.generation();
      if (current != generation) {
        generation = current;
        write(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
      }
    }
  });

  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line == "\r") continue;
    auto response = handle_text(line, session);
    if (response) write(*response);
  }
  done = true;
  watcher.join();
}

}  // namespace lognurse::host
