#pragma once

// Model Context Protocol over JSON-RPC 2.0: the message handling shared by the
// stdio transport (here) and the HTTP transport. Tools come from the
// registry's catalog; a failing tool answers isError: true with its error code,
// while protocol faults are JSON-RPC errors.

#include <iosfwd>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lognurse/registry/registry.hpp"

namespace lognurse::host {

/// JSON-RPC error codes.
enum RpcError : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
};

class McpServer {
public:
  explicit McpServer(registry::Registry& registry);

  /// Handles one message (text). Returns the response text, or nullopt for a
  /// notification or a response sent by the client.
  std::optional<std::string> handle_text(const std::string& text);

  /// Handles one parsed message.
  std::optional<nlohmann::json> handle(const nlohmann::json& message);

  /// The protocol versions this server speaks, newest first.
  static const std::vector<std::string>& supported_versions();

  /// Serves newline-delimited JSON-RPC until `in` ends.
  void serve_stdio(std::istream& in, std::ostream& out);

private:
  nlohmann::json initialize(const nlohmann::json& params);
  nlohmann::json list_tools() const;
  nlohmann::json set_level(const nlohmann::json& params);
  nlohmann::json call_tool(const nlohmann::json& params, const nlohmann::json& id);

  registry::Registry& registry_;
};

/// The MCP tool description of a catalog entry.
nlohmann::json mcp_tool_description(const registry::CatalogTool& tool);

}  // namespace lognurse::host
