#pragma once

// The Loki plugin's configuration: one table of keys (type, default, one-line
// description) that drives parsing, error messages and documentation.
//
// The environment variables LOKI_ENDPOINT and LOKI_TENANT_ID override the
// endpoint and tenant_id keys; LOKI_USERNAME, LOKI_PASSWORD and
// LOKI_BEARER_TOKEN supply credentials that the section leaves out, so that
// secrets need not be written in the host's YAML; password_file and
// bearer_token_file read them from files (a trailing newline is dropped).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/result.hpp"
#include "loki_adapter.hpp"
#include "push_batcher.hpp"
#include "retry_policy.hpp"

namespace lognurse::loki {

/// Type of a config value. Integers also accept strings of digits and
/// booleans the strings "true" and "false", which is what ${VAR} expansion in
/// the host's YAML produces.
enum class ConfigType { string, integer, boolean };

/// One row of the config table.
struct ConfigKey {
  const char* name;           ///< key in the plugin's YAML section
  ConfigType type;            ///< expected type
  const char* default_value;  ///< shown in docs; "" when there is none
  const char* description;    ///< one line for --help and docs
  const char* env;            ///< environment variable consulted, or nullptr
  long long min_value = 0;    ///< smallest accepted integer
  long long max_value = 0;    ///< largest accepted integer
};

/// Every key the section may hold, in documentation order.
const std::vector<ConfigKey>& config_table();

/// The parsed configuration.
struct LokiConfig {
  LokiAdapterOptions adapter;              ///< endpoint, timeouts, auth, TLS
  std::string tenant_id = kDefaultTenant;  ///< used for requests with the default tenant
  RetryOptions retry;                      ///< backoff and retry count
  BatchOptions batch;                      ///< batch size, age and queue bound
  PushFormat push_format = PushFormat::json;  ///< encoding of pushes
};

/// Reads an environment variable; returns nullopt when unset or empty.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

/// The process environment, as EnvLookup.
std::optional<std::string> process_env(const char* name);

/// Parses the plugin's section (a JSON object, or null for none). Unknown
/// keys, wrong types and out-of-range values fail with loki.config_error and
/// a message naming the key.
Result<LokiConfig> parse_config(const nlohmann::json& section, const EnvLookup& env = process_env);

}  // namespace lognurse::loki
