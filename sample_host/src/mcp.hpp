#pragma once

// Model Context Protocol over JSON-RPC 2.0: the message handling shared by the
// stdio transport (here) and the HTTP transport. Tools come from the
// registry's catalog; a failing tool answers isError: true with its error code,
// while protocol faults are JSON-RPC errors.

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/registry/registry.hpp"
#include "mcp_log_forwarder.hpp"

namespace lognurse::host {

/// JSON-RPC error codes.
enum RpcError : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
};

/// What one client connection has agreed with the server: the protocol version
/// from initialize, the log level from logging/setLevel (none: the client gets
/// no log notifications), and where notifications for the request being
/// handled go (empty: the transport cannot deliver them, and they are dropped).
struct McpSession {
  std::string transport = "stdio";  ///< "stdio" or "http", for the tool-call metrics
  std::string protocol_version;
  std::optional<McpLogLevel> log_level;
  std::function<void(const nlohmann::json& notification)> notify;
};

class McpServer {
public:
  /// Installs the log forwarder (see install_log_forwarder), so construct it
  /// before requests are served.
  explicit McpServer(registry::Registry& registry);

  /// Handles one message (text). Returns the response text, or nullopt for a
  /// notification or a response sent by the client.
  std::optional<std::string> handle_text(const std::string& text, McpSession& session);

  /// Handles one parsed message. Returns the response text, or nullopt as handle_text does.
  std::optional<std::string> handle(const nlohmann::json& message, McpSession& session);

  /// The protocol versions this server speaks, newest first.
  static const std::vector<std::string>& supported_versions();

  /// Serves newline-delimited JSON-RPC until `in` ends. Log notifications of
  /// a tool call, and notifications/tools/list_changed when the catalog grows
  /// (a watcher thread checks four times a second), go to `out` as well.
  void serve_stdio(std::istream& in, std::ostream& out);

private:
  nlohmann::json initialize(const nlohmann::json& params, McpSession& session);
  nlohmann::json list_tools() const;
  nlohmann::json set_level(const nlohmann::json& params, McpSession& session);
  std::string call_tool(const nlohmann::json& params, const nlohmann::json& id,
                        McpSession& session);

  registry::Registry& registry_;
};

/// The MCP tool description of a catalog entry (inputSchema without the
/// output-schema annotation; outputSchema when the tool declares one).
nlohmann::json mcp_tool_description(const registry::CatalogTool& tool);

/// The keyword under which a tool's input schema carries the JSON Schema of
/// its successful result. The plugin ABI's ToolSpec has no field for it, and
/// JSON Schema 2020-12 lets unknown keywords through as annotations, so a
/// provider puts it there and the host moves it to outputSchema.
inline constexpr const char* kOutputSchemaKeyword = "x-output-schema";

/// The input schema of a tool without the output-schema annotation.
nlohmann::json tool_input_schema(const ToolSpec& spec);

/// The JSON Schema of the tool's successful result, or null when it declares none.
nlohmann::json tool_output_schema(const ToolSpec& spec);

/// The MCP CallToolResult for a tool's successful value. A value of the form
/// {"content":[blocks…]} (optionally with "structuredContent") is already a
/// tool result and passes through; any other value becomes one text block
/// holding its JSON and the same value as structuredContent.
nlohmann::json tool_result_to_mcp(const nlohmann::json& value);

/// The JSON-RPC response text of a successful tools/call: the same text as dumping
/// {"jsonrpc","id","result": tool_result_to_mcp(value)}, but the value is serialised once
/// and that text is used both as the text block (escaped) and as structuredContent, with no
/// copy of the value.
std::string tool_call_response_text(const nlohmann::json& id, const nlohmann::json& value);

}  // namespace lognurse::host
