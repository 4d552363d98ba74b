#include "loki_config.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
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
      {"password_file", ConfigType::string, "",
       "file holding the basic authentication password (instead of password)", nullptr},
      {"bearer_token_file", ConfigType::string, "",
       "file holding the bearer token (instead of bearer_token)", nullptr},
      {"ca_file", ConfigType::string, "", "PEM file of CAs that sign Loki's certificate", nullptr},
      {"client_cert_file", ConfigType::string, "",
       "PEM client certificate for mutual TLS (needs client_key_file)", nullptr},
      {"client_key_file", ConfigType::string, "", "PEM private key of client_cert_file",
       nullptr},
      {"tls_verify", ConfigType::boolean, "true",
       "verify Loki's certificate and host name; false only for test clusters", nullptr},
      {"push_format", ConfigType::string, "json",
       "encoding of pushes: json, or protobuf (snappy-compressed push.proto)", nullptr},
      {"batch_max_bytes", ConfigType::integer, "1048576",
       "a push batch is sent once it holds this many bytes of entries", nullptr, 1024,
       64LL << 20},
      {"batch_max_wait_ms", ConfigType::integer, "0",
       "longest time a push waits for others to join its batch (0: send when idle)", nullptr, 0,
       60'000},
      {"push_concurrency", ConfigType::integer, "1",
       "push batches sent to Loki at once, each on its own connection", nullptr, 1, 16},
      {"max_queue_bytes", ConfigType::integer, "67108864",
       "pushes beyond this many queued bytes are refused and counted as dropped", nullptr, 1024,
       1LL << 32},
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

/// A checked value of one key, as text, integer or boolean (0 or 1).
struct Value {
  std::string text;
  long long number = 0;
};

/// The trimmed content of a secret file; the message never shows the content.
Result<std::string> read_secret_file(const char* key, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return config_error(std::string(key) + " \"" + path +
                        "\" cannot be read; check that the file exists and is readable");
  }
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
    content.pop_back();
  }
  if (content.empty()) {
    return config_error(std::string(key) + " \"" + path + "\" is empty");
  }
  if (content.find_first_of("\r\n") != std::string::npos) {
    return config_error(std::string(key) + " \"" + path +
                        "\" holds more than one line; put only the secret in it");
  }
  return content;
}

Result<Value> read_value(const ConfigKey& key, const json& value) {
  Value out;
  if (key.type == ConfigType::boolean) {
    if (value.is_boolean()) {
      out.number = value.get<bool>() ? 1 : 0;
    } else if (value.is_string() && (value == "true" || value == "false")) {
      out.number = value == "true" ? 1 : 0;
    } else {
      return config_error(std::string("key \"") + key.name + "\" must be true or false, got " +
                          value.dump());
    }
    return out;
  }
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
    // A secret file named in the section wins over the environment.
    if (!overrides && values.count(std::string(name) + "_file") != 0) continue;
    if (auto value = env ? env(key->env) : std::nullopt) values[name] = Value{*value, 0};
  }

  const auto text = [&](const char* name) {
    const auto it = values.find(name);
    return it != values.end() ? it->second.text : std::string(find_key(name)->default_value);
  };
  const auto number = [&](const char* name) {
    const auto it = values.find(name);
    if (it != values.end()) return it->second.number;
    const std::string fallback = find_key(name)->default_value;
    if (fallback == "true" || fallback == "false") return fallback == "true" ? 1LL : 0LL;
    return std::stoll(fallback);
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
  for (const auto& [file_key, target_key] :
       {std::pair<const char*, const char*>{"password_file", "password"},
        std::pair<const char*, const char*>{"bearer_token_file", "bearer_token"}}) {
    const std::string path = text(file_key);
    if (path.empty()) continue;
    if (values.count(target_key) != 0) {
      return config_error(std::string("set either ") + target_key + " or " + file_key +
                          ", not both");
    }
    auto secret = read_secret_file(file_key, path);
    if (!secret) return secret.error();
    (std::string_view(target_key) == "password" ? adapter.password : adapter.bearer_token) =
        std::move(secret).value();
  }
  adapter.ca_file = text("ca_file");
  adapter.client_cert_file = text("client_cert_file");
  adapter.client_key_file = text("client_key_file");
  if (adapter.client_cert_file.empty() != adapter.client_key_file.empty()) {
    return config_error("client_cert_file and client_key_file must be set together");
  }
  adapter.verify_tls = number("tls_verify") != 0;
  adapter.max_response_bytes = static_cast<std::size_t>(number("max_response_bytes"));
  adapter.max_idle_connections = static_cast<std::size_t>(number("max_idle_connections"));
  if (!adapter.username.empty() && !adapter.bearer_token.empty()) {
    return config_error("set either username/password or bearer_token, not both");
  }
  if (adapter.username.empty() && !adapter.password.empty()) {
    return config_error("password is set but username is not; set username too");
  }

  const std::string format = text("push_format");
  if (format != "json" && format != "protobuf") {
    return config_error("push_format \"" + format + "\" is not known; use json or protobuf");
  }
  config.push_format = format == "protobuf" ? PushFormat::protobuf : PushFormat::json;
  config.batch.max_batch_bytes = static_cast<std::size_t>(number("batch_max_bytes"));
  config.batch.max_wait = std::chrono::milliseconds(number("batch_max_wait_ms"));
  config.batch.max_queue_bytes = static_cast<std::size_t>(number("max_queue_bytes"));
  config.batch.senders = static_cast<std::size_t>(number("push_concurrency"));
  if (config.batch.max_queue_bytes < config.batch.max_batch_bytes) {
    return config_error("max_queue_bytes must be at least batch_max_bytes");
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
