#pragma once

// The plugin registry: loads shared-object plugins from directories, checks
// their descriptor and ABI version before anything else, and keeps the
// abstraction map (log_aggregation → the configured backend) and the tool
// catalog ("<service>_<tool>"). A plugin that cannot be used is refused with
// one log line and a status; the host runs on with the rest.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/plugin.hpp"

namespace lognurse::registry {

/// What the registry knows about one file it looked at.
struct PluginRecord {
  std::string file;    ///< absolute path
  bool loaded = false;
  std::string reason;  ///< why it was refused; empty when loaded
  std::string name;    ///< from the descriptor, when it could be read
  std::string version;
  std::vector<std::string> tools;     ///< full tool names it provides
  std::vector<std::string> backends;  ///< "log_aggregation/<backend>"
};

/// One tool of the catalog.
struct CatalogTool {
  std::string full_name;  ///< "<service>_<tool>"
  ToolSpec spec;
  std::string plugin_file;
  std::shared_ptr<ToolProvider> provider;
};

struct RegistryOptions {
  std::vector<std::string> plugin_dirs;
  /// Backend name for the log_aggregation abstraction ("local_store", "loki").
  std::string log_aggregation_backend = "local_store";
  std::string data_dir;
  /// Plugin name → its YAML section converted to JSON.
  nlohmann::json plugin_configs = nlohmann::json::object();
  /// Makes the logger handed to a plugin; the argument is the plugin name.
  std::function<std::shared_ptr<Logger>(const std::string&)> make_logger;
  /// Makes the metrics sink handed to a plugin; the argument is the plugin
  /// name. Unset, or returning null, gives the plugin discarding_metrics_sink().
  std::function<std::shared_ptr<MetricsSink>(const std::string&)> make_metrics;
};

class Registry {
public:
  explicit Registry(RegistryOptions options);

  /// Shuts every plugin down and releases the libraries.
  ~Registry();

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Loads every *.so of the plugin directories, in directory order and then
  /// file-name order. Files already loaded are skipped, so calling it again
  /// picks up new files. Returns the number of plugins newly loaded.
  std::size_t load_all();

  /// Loads one file; refusals are recorded, never thrown.
  bool load_file(const std::string& path);

  /// Every file looked at, in load order.
  std::vector<PluginRecord> plugins() const;

  /// The directories load_all searches, in order.
  const std::vector<std::string>& plugin_dirs() const { return options_.plugin_dirs; }

  /// The active log-aggregation backend, guarded so that an exception from
  /// the plugin becomes an error result; nullptr when none is loaded.
  std::shared_ptr<LogAggregationProtocol> log_aggregation() const;

  /// Names of every log-aggregation backend loaded, active or not.
  std::vector<std::string> backend_names() const;

  /// The tool catalog, sorted by full name.
  std::vector<CatalogTool> tools() const;

  /// A copy of the catalog entry (with its schemas), or nullopt.
  std::optional<CatalogTool> find_tool(const std::string& full_name) const;

  /// Whether the catalog has a tool of that name; copies nothing.
  bool has_tool(const std::string& full_name) const;

  /// Calls a tool; unknown names are a not_found error, and an exception
  /// thrown by the plugin becomes an internal error result.
  Result<nlohmann::json> call_tool(const std::string& full_name, const nlohmann::json& arguments);

  /// Grows by one each time a plugin loads; a changed value means the tool
  /// catalog may have changed (MCP's tools/list_changed).
  std::uint64_t generation() const { return generation_.load(); }

  /// Stops every plugin (joins their threads). Idempotent.
  void shutdown();

private:
  struct LoadedPlugin;

  void refuse(PluginRecord record, const std::string& reason);

  RegistryOptions options_;
  mutable std::mutex mutex_;
  std::vector<PluginRecord> records_;
  std::vector<std::shared_ptr<LoadedPlugin>> loaded_;
  std::vector<std::pair<std::string, std::shared_ptr<LogAggregationProtocol>>> backends_;
  std::vector<CatalogTool> tools_;
  bool shut_down_ = false;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace lognurse::registry
