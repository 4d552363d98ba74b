#pragma once

// Host configuration: YAML with ${VAR} and ${VAR:-default} expansion in every
// scalar. Unknown keys and wrong types are errors that name the file, line and
// key. Plugin sections are handed to their plugins as JSON; each plugin checks
// its own keys.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/result.hpp"

namespace lognurse::host {

struct HostConfig {
  std::string source = "(built-in defaults)";  ///< the file it came from
  std::string listen = "127.0.0.1:8470";
  std::string data_dir;  ///< empty: $HOME/.local/share/lognurse
  std::vector<std::string> plugin_dirs;  ///< searched after the default directory
  bool default_plugin_dir = true;        ///< also search <executable>/../plugins
  std::string log_aggregation_backend = "local_store";
  std::string log_level = "info";
  std::size_t max_body_bytes = 64 * 1024 * 1024;
  /// How long a client may take to send a whole request, head and body, from its first
  /// byte (Loki's http_server_read_timeout); a request not whole by then gets 408.
  std::int64_t read_timeout_ms = 30'000;
  /// A file holding the bearer token every HTTP request must carry; empty:
  /// LOGNURSE_AUTH_TOKEN, or no authentication when that is unset too.
  std::string auth_token_file;
  nlohmann::json plugins = nlohmann::json::object();  ///< plugin name → section
  /// "file:line" of each plugin section, for error messages.
  nlohmann::json plugin_locations = nlohmann::json::object();
};

/// Loads and checks a config file.
Result<HostConfig> load_config(const std::string& path);

/// Parses config text; `source` names it in messages.
Result<HostConfig> parse_config(const std::string& text, const std::string& source);

/// Expands ${VAR} and ${VAR:-default} from the environment. An unset variable
/// without a default is an error naming it.
Result<std::string> expand_environment(const std::string& text);

}  // namespace lognurse::host
