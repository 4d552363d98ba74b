#pragma once

// The plugin ABI. A plugin is a shared object that exports two C symbols:
//
//   const lognurse_plugin_descriptor* lognurse_plugin_descriptor_v1();
//   lognurse::Plugin* lognurse_plugin_create_v1(const lognurse::HostContext*);
//
// The registry reads the descriptor first and compares its ABI version with
// kPluginAbiVersion before calling anything else; the descriptor is plain C so
// that reading it is safe whatever the plugin was built against. Use
// LOGNURSE_PLUGIN(...) to define both.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/logger.hpp"
#include "lognurse/host_api/metrics.hpp"
#include "lognurse/host_api/tool_provider.hpp"

extern "C" {
/// Plain-C descriptor; every string is static and NUL-terminated.
struct lognurse_plugin_descriptor {
  int abi_version;
  const char* name;      ///< unique plugin name, e.g. "local_store"
  const char* version;   ///< the plugin's own version
  const char* provides;  ///< comma-separated kinds: "log_aggregation", "tools"
};
}

namespace lognurse {

/// Bumped whenever a type or virtual function in host_api changes layout.
/// 3: HostContext carries a metrics sink.
inline constexpr int kPluginAbiVersion = 3;

inline constexpr const char* kDescriptorSymbol = "lognurse_plugin_descriptor_v1";
inline constexpr const char* kCreateSymbol = "lognurse_plugin_create_v1";

/// What a plugin factory receives from the host.
struct HostContext {
  /// The plugin's section of the host YAML (converted to JSON), or an empty
  /// object when config has none.
  nlohmann::json config = nlohmann::json::object();

  /// A logger named after the plugin.
  std::shared_ptr<Logger> logger;

  /// The directory for persistent data (the host's --data-dir).
  std::string data_dir;

  /// Looks up an abstraction (kLogAggregation) registered by any plugin. Call
  /// it when the abstraction is needed, not in the factory: plugins load in
  /// file order. Returns nullptr when none is active.
  std::function<std::shared_ptr<LogAggregationProtocol>(const std::string& kind)> lookup;

  /// Where the plugin publishes its metrics; the host prefixes every name
  /// with the plugin's (see metrics.hpp). Never null from the registry: a
  /// host without a metrics endpoint hands in discarding_metrics_sink().
  std::shared_ptr<MetricsSink> metrics;
};

/// What a plugin factory returns. The registry owns it and keeps the shared
/// object loaded while it or anything it handed out is alive.
class Plugin {
public:
  virtual ~Plugin();

  /// Backends this plugin offers, by abstraction kind (kLogAggregation) and
  /// backend name ("local_store"). Called once after creation.
  virtual std::vector<std::pair<std::string, std::shared_ptr<LogAggregationProtocol>>>
  log_aggregation_backends() {
    return {};
  }

  /// Tool providers this plugin offers. Called once after creation.
  virtual std::vector<std::shared_ptr<ToolProvider>> tool_providers() { return {}; }

  /// Stops background work; the registry calls it before destruction, and the
  /// plugin joins its threads here.
  virtual void shutdown() {}
};

}  // namespace lognurse

#define LOGNURSE_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

/// Defines the two entry symbols. PluginClass must be constructible from
/// (const lognurse::HostContext&).
#define LOGNURSE_PLUGIN(PluginClass, name_literal, version_literal, provides_literal)       \
  LOGNURSE_PLUGIN_EXPORT const lognurse_plugin_descriptor* lognurse_plugin_descriptor_v1() { \
    static const lognurse_plugin_descriptor descriptor{                                     \
        ::lognurse::kPluginAbiVersion, name_literal, version_literal, provides_literal};    \
    return &descriptor;                                                                     \
  }                                                                                         \
  LOGNURSE_PLUGIN_EXPORT ::lognurse::Plugin* lognurse_plugin_create_v1(                     \
      const ::lognurse::HostContext* context) {                                             \
    return new PluginClass(*context);                                                       \
  }
