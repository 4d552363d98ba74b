#include "config.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "lognurse/host_api/time.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

std::string at(const std::string& source, const YAML::Node& node) {
  return source + ":" + std::to_string(node.Mark().line + 1);
}

Error config_error(const std::string& where, const std::string& message) {
  return invalid_argument("config.invalid", where + ": " + message);
}

/// Converts a YAML node to JSON, expanding variables in scalars and typing
/// plain scalars (true/false, null, integers, floats); quoted scalars stay
/// strings.
Result<json> to_json(const YAML::Node& node, const std::string& source) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      auto expanded = expand_environment(node.Scalar());
      if (!expanded) return config_error(at(source, node), expanded.error().message);
      const std::string& text = expanded.value();
      if (node.Tag() == "!") return json(text);  // quoted
      if (text == "true" || text == "True") return json(true);
      if (text == "false" || text == "False") return json(false);
      if (text == "null" || text == "~" || text.empty()) return json(nullptr);
      char* end = nullptr;
      const long long integer = std::strtoll(text.c_str(), &end, 10);
      if (end && *end == '\0' && !text.empty()) return json(integer);
      const double number = std::strtod(text.c_str(), &end);
      if (end && *end == '\0' && text.find_first_of("0123456789") != std::string::npos &&
          text.find_first_not_of("0123456789.eE+-") == std::string::npos) {
        return json(number);
      }
      return json(text);
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) {
        auto value = to_json(item, source);
        if (!value) return value;
        out.push_back(std::move(value).value());
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& item : node) {
        auto value = to_json(item.second, source);
        if (!value) return value;
        out[item.first.Scalar()] = std::move(value).value();
      }
      return out;
    }
  }
  return json(nullptr);
}

Status check_keys(const YAML::Node& map, const std::string& path,
                  const std::vector<std::string>& allowed, const std::string& source) {
  if (!map.IsMap()) return config_error(at(source, map), path + " must be a mapping");
  for (const auto& item : map) {
    const std::string key = item.first.Scalar();
    bool known = false;
    for (const auto& name : allowed) known = known || name == key;
    if (!known) {
      std::string list;
      for (const auto& name : allowed) list += (list.empty() ? "" : ", ") + name;
      return config_error(at(source, item.first),
                          "unknown key \"" + (path.empty() ? key : path + "." + key) +
                              "\"; known keys here: " + list);
    }
  }
  return success();
}

Result<std::string> string_value(const YAML::Node& node, const std::string& key,
                                 const std::string& source) {
  if (!node.IsScalar()) return config_error(at(source, node), key + " must be a string");
  auto value = to_json(node, source);
  if (!value) return value.error();
  if (value.value().is_null()) return std::string();
  if (value.value().is_string()) return value.value().get<std::string>();
  return value.value().dump();
}

}  // namespace

Result<std::string> expand_environment(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i];
      continue;
    }
    const auto close = text.find('}', i + 2);
    if (close == std::string::npos) {
      return invalid_argument("config.invalid", "unterminated ${ in \"" + text + "\"");
    }
    const std::string inner = text.substr(i + 2, close - i - 2);
    const auto dash = inner.find(":-");
    const std::string name = inner.substr(0, dash);
    if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                               "0123456789_") != std::string::npos) {
      return invalid_argument("config.invalid", "invalid variable name \"" + name + "\" in ${" +
                                                    inner + "}");
    }
    const char* value = std::getenv(name.c_str());
    if (value != nullptr && (*value != '\0' || dash == std::string::npos)) {
      out += value;
    } else if (dash != std::string::npos) {
      out += inner.substr(dash + 2);
    } else {
      return invalid_argument("config.invalid",
                              "environment variable " + name +
                                  " is not set; set it or write ${" + name + ":-default}");
    }
    i = close;
  }
  return out;
}

Result<HostConfig> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return invalid_argument("config.unreadable", "cannot read config file " + path);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), path);
}

Result<HostConfig> parse_config(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return config_error(source + ":" + std::to_string(e.mark.line + 1),
                        "YAML syntax error: " + e.msg);
  }
  HostConfig config;
  config.source = source;
  if (root.IsNull()) return config;
  auto status = check_keys(root, "", {"server", "plugin_dirs", "default_plugin_dir",
                                      "log_aggregation", "plugins", "logging"},
                           source);
  if (!status) return status.error();

  if (const auto server = root["server"]) {
    status = check_keys(server, "server", {"listen", "data_dir", "max_body_bytes", "auth_token_file", "read_timeout"},
                        source);
    if (!status) return status.error();
    if (server["listen"]) {
      auto value = string_value(server["listen"], "server.listen", source);
      if (!value) return value.error();
      config.listen = value.value();
    }
    if (server["data_dir"]) {
      auto value = string_value(server["data_dir"], "server.data_dir", source);
      if (!value) return value.error();
      config.data_dir = value.value();
    }
    if (server["auth_token_file"]) {
      auto value = string_value(server["auth_token_file"], "server.auth_token_file", source);
      if (!value) return value.error();
      config.auth_token_file = value.value();
    }
    if (server["max_body_bytes"]) {
      auto value = to_json(server["max_body_bytes"], source);
      if (!value) return value.error();
      if (!value.value().is_number_integer() || value.value().get<long long>() <= 0) {
        return config_error(at(source, server["max_body_bytes"]),
                            "server.max_body_bytes must be a positive integer");
      }
      config.max_body_bytes = value.value().get<std::size_t>();
    }
    if (server["read_timeout"]) {
      auto value = string_value(server["read_timeout"], "server.read_timeout", source);
      if (!value) return value.error();
      auto parsed = parse_duration(value.value());
      if (!parsed || parsed.value() < 1'000'000 || parsed.value() > 3600 * kNanosPerSecond) {
        return config_error(at(source, server["read_timeout"]),
                            "server.read_timeout must be a duration from 1ms to 1h, e.g. 30s");
      }
      config.read_timeout_ms = parsed.value() / 1'000'000;
    }
  }
  if (const auto dirs = root["plugin_dirs"]) {
    if (!dirs.IsSequence()) {
      return config_error(at(source, dirs), "plugin_dirs must be a list of directories");
    }
    for (const auto& dir : dirs) {
      auto value = string_value(dir, "plugin_dirs[]", source);
      if (!value) return value.error();
      config.plugin_dirs.push_back(value.value());
    }
  }
  if (const auto flag = root["default_plugin_dir"]) {
    auto value = to_json(flag, source);
    if (!value) return value.error();
    if (!value.value().is_boolean()) {
      return config_error(at(source, flag), "default_plugin_dir must be true or false");
    }
    config.default_plugin_dir = value.value().get<bool>();
  }
  if (const auto aggregation = root["log_aggregation"]) {
    status = check_keys(aggregation, "log_aggregation", {"backend"}, source);
    if (!status) return status.error();
    if (aggregation["backend"]) {
      auto value = string_value(aggregation["backend"], "log_aggregation.backend", source);
      if (!value) return value.error();
      config.log_aggregation_backend = value.value();
    }
  }
  if (const auto logging = root["logging"]) {
    status = check_keys(logging, "logging", {"level"}, source);
    if (!status) return status.error();
    if (logging["level"]) {
      auto value = string_value(logging["level"], "logging.level", source);
      if (!value) return value.error();
      const auto& level = value.value();
      if (level != "debug" && level != "info" && level != "warn" && level != "error") {
        return config_error(at(source, logging["level"]),
                            "logging.level must be debug, info, warn or error, got \"" + level +
                                "\"");
      }
      config.log_level = level;
    }
  }
  if (const auto plugins = root["plugins"]) {
    if (!plugins.IsMap()) {
      return config_error(at(source, plugins), "plugins must map plugin names to sections");
    }
    for (const auto& item : plugins) {
      auto section = to_json(item.second, source);
      if (!section) return section.error();
      if (!section.value().is_null() && !section.value().is_object()) {
        return config_error(at(source, item.second),
                            "plugins." + item.first.Scalar() + " must be a mapping");
      }
      config.plugins[item.first.Scalar()] =
          section.value().is_null() ? json::object() : std::move(section).value();
      config.plugin_locations[item.first.Scalar()] = at(source, item.first);
    }
  }
  return config;
}

}  // namespace lognurse::host
