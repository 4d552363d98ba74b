#include "loki_config.hpp"

#include <charconv>
#include <cstdlib>
#include <map>

namespace lognurse::loki {

using nlohmann::json;

const std::vector<ConfigKey>& config_table() {
  static const std::vector<ConfigKey> table = {
      {"endpoint", ConfigType::string, "http://127.0.0.1:3100",
       "base URL of Loki (http or https, optional path prefix)", "LOKI_ENDPOINT"},
      {"tenant_id", ConfigType::string, "fake",
       "X-Scope-OrgID for requests that carry the default tenant \"fake\"", "LOKI_TENANT_ID"},
      {"timeout_ms", ConfigType::integer, "10000", "time allowed for one HTTP request", nullptr, 1,
       3'600'000},
      {"connect_timeout_ms", ConfigType::integer, "2000",
       "time allowed to open a connection to Loki", nullptr, 1, 600'000},
      {"max_retries", ConfigType::integer, "3",
       "retries after a 429, 5xx or transport failure (0 disables)", nullptr, 0, 10},
      {"retry_initial_backoff_ms", ConfigType::integer, "100",
       "upper bound of the first retry delay; doubles on each retry", nullptr, 1, 60'000},
      {"retry_max_backoff_ms", ConfigType::integer, "5000",
       "cap of a retry delay and the longest Retry-After honoured", nullptr, 1, 600'000},
      {"username", ConfigType::string, "", "basic authentication user", "LOKI_USERNAME"},
      {"password", ConfigType::string, "", "basic authentication password (secret)",
       "LOKI_PASSWORD"},
      {"bearer_token", ConfigType::string, "",
       "token sent as Authorization: Bearer (secret; excludes basic auth)", "LOKI_BEARER_TOKEN"},
      {"ca_file", ConfigType::string, "", "PEM file of CAs that sign Loki's certificate", nullptr},
      {"max_response_bytes", ConfigType::integer, "67108864", "largest answer accepted from Loki",
       nullptr, 1024, 1LL << 32},
      {"max_idle_connections", ConfigType::integer, "8", "idle connections kept open for reuse",
       nullptr, 0, 256},
  };
  return table;
}

std::optional<std::string> process_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

namespace {

Error config_error(std::string message) {
  return invalid_argument(codes::kConfigError, "loki config: " + std::move(message));
}

std::string known_keys() {
  std::string out;
  for (const auto& key : config_table()) {
    if (!out.empty()) out += ", ";
    out += key.name;
  }
  return out;
}

const ConfigKey* find_key(const std::string& name) {
  for (const auto& key : config_table()) {
    if (name == key.name) return &key;
  }
  return nullptr;
}

/// A checked value of one key, as text or integer.
struct Value {
  std::string text;
  long long number = 0;
};

Result<Value> read_value(const ConfigKey& key, const json& value) {
  Value out;
  if (key.type == ConfigType::string) {
    if (!value.is_string()) {
      return config_error(std::string("key \"") + key.name + "\" must be a string, got " +
                          value.type_name());
    }
    out.text = value.get<std::string>();
    return out;
  }

  if (value.is_number_integer()) {
    out.number = value.get<long long>();
  } else if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out.number);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return config_error(std::string("key \"") + key.name + "\" must be an integer, got \"" +
                          text + "\"");
    }
  } else {
    return config_error(std::string("key \"") + key.name + "\" must be an integer, got " +
                        value.type_name());
  }
  if (out.number < key.min_value || out.number > key.max_value) {
    return config_error(std::string("key \"") + key.name + "\" must be between " +
                        std::to_string(key.min_value) + " and " + std::to_string(key.max_value) +
                        ", got " + std::to_string(out.number));
  }
  return out;
}

Status check_endpoint(const std::string& endpoint) {
  const auto scheme_end = endpoint.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : endpoint.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return config_error("endpoint \"" + endpoint +
                        "\" must start with http:// or https://, e.g. http://127.0.0.1:3100");
  }
  const std::string rest = endpoint.substr(scheme_end + 3);
  const std::string authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return config_error("endpoint \"" + endpoint + "\" names no host");
  if (authority.find('@') != std::string::npos) {
    // Never echo the value: it holds a credential.
    return config_error(
        "endpoint must not contain credentials; set username and password "
        "(or LOKI_USERNAME and LOKI_PASSWORD) instead");
  }
  if (rest.find_first_of("?#") != std::string::npos) {
    return config_error("endpoint \"" + endpoint + "\" must not hold a query or fragment");
  }
  return success();
}

}  // namespace

Result<LokiConfig> parse_config(const json& section, const EnvLookup& env) {
  if (!section.is_null() && !section.is_object()) {
    return config_error(std::string("the section must be a mapping of keys, got ") +
                        section.type_name());
  }

  std::map<std::string, Value> values;
  if (section.is_object()) {
    for (const auto& [name, value] : section.items()) {
      const ConfigKey* key = find_key(name);
      if (key == nullptr) {
        return config_error("unknown key \"" + name + "\"; known keys: " + known_keys());
      }
      if (value.is_null()) continue;
      auto checked = read_value(*key, value);
      if (!checked) return checked.error();
      values[name] = std::move(checked).value();
    }
  }

  // Environment: endpoint and tenant override the section; credentials fill gaps.
  for (const char* name : {"endpoint", "tenant_id", "username", "password", "bearer_token"}) {
    const ConfigKey* key = find_key(name);
    const bool overrides =
        std::string_view(name) == "endpoint" || std::string_view(name) == "tenant_id";
    if (!overrides && values.count(name) != 0) continue;
    if (auto value = env ? env(key->env) : std::nullopt) values[name] = Value{*value, 0};
  }

  const auto text = [&](const char* name) {
    const auto it = values.find(name);
    return it != values.end() ? it->second.text : std::string(find_key(name)->default_value);
  };
  const auto number = [&](const char* name) {
    const auto it = values.find(name);
    return it != values.end() ? it->second.number : std::stoll(find_key(name)->default_value);
  };

  LokiConfig config;
  auto& adapter = config.adapter;
  adapter.endpoint = text("endpoint");
  if (auto checked = check_endpoint(adapter.endpoint); !checked) return checked.error();
  while (adapter.endpoint.back() == '/') adapter.endpoint.pop_back();

  config.tenant_id = text("tenant_id");
  if (!is_valid_tenant(config.tenant_id)) {
    return config_error("tenant_id \"" + config.tenant_id +
                        "\" is not a valid Loki tenant: use 1 to 150 letters, digits and "
                        "!-_.*'() characters");
  }

  adapter.timeout = std::chrono::milliseconds(number("timeout_ms"));
  adapter.connect_timeout = std::chrono::milliseconds(number("connect_timeout_ms"));
  adapter.username = text("username");
  adapter.password = text("password");
  adapter.bearer_token = text("bearer_token");
  adapter.ca_file = text("ca_file");
  adapter.max_response_bytes = static_cast<std::size_t>(number("max_response_bytes"));
  adapter.max_idle_connections = static_cast<std::size_t>(number("max_idle_connections"));
  if (!adapter.username.empty() && !adapter.bearer_token.empty()) {
    return config_error("set either username/password or bearer_token, not both");
  }
  if (adapter.username.empty() && !adapter.password.empty()) {
    return config_error("password is set but username is not; set username too");
  }

  config.retry.max_retries = static_cast<int>(number("max_retries"));
  config.retry.initial_backoff = std::chrono::milliseconds(number("retry_initial_backoff_ms"));
  config.retry.max_backoff = std::chrono::milliseconds(number("retry_max_backoff_ms"));
  if (config.retry.max_backoff < config.retry.initial_backoff) {
    return config_error("retry_max_backoff_ms must be at least retry_initial_backoff_ms");
  }
  return config;
}

}  // namespace lognurse::loki
