#pragma once

// Tools: named operations that the host exposes both as MCP tools and as REST
// routes. A provider has a service name; the catalog names each tool
// "<service>_<tool>" (service "nurse", tool "query_logs" → "nurse_query_logs").

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/result.hpp"

namespace lognurse {

struct ToolSpec {
  std::string name;         ///< without the service prefix, e.g. "query_logs"
  std::string title;        ///< a short human title
  std::string description;  ///< what it does and when to use it, for agents
  nlohmann::json input_schema = nlohmann::json::object();  ///< JSON Schema
  std::string http_method = "POST";                        ///< "GET" or "POST"
  std::string rest_path;  ///< e.g. "/api/nurse/logs/query"
  bool read_only = true;
};

class ToolProvider {
public:
  virtual ~ToolProvider();

  /// Prefix of every tool name this provider offers, e.g. "nurse".
  virtual std::string service_name() const = 0;

  virtual std::vector<ToolSpec> tools() const = 0;

  /// Runs the tool `name` (without the service prefix). Arguments have not
  /// been validated against the schema; the provider checks them and answers
  /// with an invalid_argument error naming the argument at fault.
  virtual Result<nlohmann::json> call(const std::string& name,
                                      const nlohmann::json& arguments) = 0;
};

}  // namespace lognurse
