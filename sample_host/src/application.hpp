#pragma once

// Wiring shared by every command: config → logging → registry with the
// plugins loaded, and the active backend connected.

#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "lognurse/registry/registry.hpp"

namespace lognurse::host {

/// Command-line values that override the config file.
struct Overrides {
  std::optional<std::string> data_dir;
  std::optional<std::string> listen;
  std::optional<std::string> log_level;
};

class Application {
public:
  /// Loads plugins and connects the active backend. A backend that fails to
  /// connect is logged and left for the monitor to report; plugin refusals
  /// are logged by the registry.
  static Result<std::unique_ptr<Application>> create(HostConfig config, const Overrides& overrides);

  ~Application();

  const HostConfig& config() const { return config_; }
  registry::Registry& registry() { return *registry_; }

  /// The active backend, or an error that says how to get one.
  Result<std::shared_ptr<LogAggregationProtocol>> backend();

private:
  explicit Application(HostConfig config);

  HostConfig config_;
  std::unique_ptr<registry::Registry> registry_;
};

/// The directory holding the running executable.
std::string executable_directory();

/// $HOME/.local/share/lognurse (or ./lognurse-data without HOME).
std::string default_data_dir();

}  // namespace lognurse::host
