#pragma once

// Loads plugins dropped into the plugin directories while the host runs. A
// new *.so is loaded once its size and modification time held still for one
// whole poll, so that a file still being copied is not refused for good
// (copying to another name and renaming it into place avoids the wait). The
// registry's generation grows with each load, which the MCP transports
// announce as notifications/tools/list_changed.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "lognurse/registry/registry.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

class PluginWatcher {
public:
  /// Starts polling the registry's plugin directories every `interval`.
  PluginWatcher(registry::Registry& registry, std::chrono::milliseconds interval);

  /// Stops and joins the polling thread.
  ~PluginWatcher();

  PluginWatcher(const PluginWatcher&) = delete;
  PluginWatcher& operator=(const PluginWatcher&) = delete;

private:
  void poll();

  registry::Registry& registry_;
  std::chrono::milliseconds interval_;
  /// Files not yet loaded → (size, modification time) at the last poll.
  std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> pending_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Serves the REST routes of tools that were not in the catalog when the
/// routes were registered (plugins loaded later), and answers any other path
/// under /api/ with a JSON 404. Install it after every other route: the
/// listener tries routes in order.
void install_late_tool_routes(httplib::Server& http, registry::Registry& registry);

}  // namespace lognurse::host
