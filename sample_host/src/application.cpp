#include "application.hpp"

#include <cstdlib>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "host_metrics.hpp"
#include "spdlog_logger.hpp"

namespace lognurse::host {

namespace fs = std::filesystem;

std::string executable_directory() {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::current_path().string();
  return self.parent_path().string();
}

std::string default_data_dir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "lognurse-data";
  return std::string(home) + "/.local/share/lognurse";
}

Application::Application(HostConfig config) : config_(std::move(config)) {}

Application::~Application() {
  if (registry_) registry_->shutdown();
}

Result<std::unique_ptr<Application>> Application::create(HostConfig config,
                                                         const Overrides& overrides) {
  if (overrides.data_dir) config.data_dir = *overrides.data_dir;
  if (overrides.listen) config.listen = *overrides.listen;
  if (overrides.log_level) config.log_level = *overrides.log_level;
  if (config.data_dir.empty()) config.data_dir = default_data_dir();
  configure_logging(config.log_level);

  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) {
    return invalid_argument("config.data_dir", "cannot create data directory " + config.data_dir +
                                                   ": " + ec.message());
  }

  registry::RegistryOptions options;
  if (config.default_plugin_dir) {
    options.plugin_dirs.push_back((fs::path(executable_directory()) / ".." / "plugins")
                                      .lexically_normal()
                                      .string());
  }
  for (const auto& dir : config.plugin_dirs) options.plugin_dirs.push_back(dir);
  options.log_aggregation_backend = config.log_aggregation_backend;
  options.data_dir = config.data_dir;
  options.plugin_configs = config.plugins;
  options.make_logger = [](const std::string& name) { return make_logger(name); };
  options.make_metrics = [](const std::string& name) {
    return HostMetrics::instance().plugin_metrics().sink_for(name);
  };

  std::unique_ptr<Application> app(new Application(std::move(config)));
  app->registry_ = std::make_unique<registry::Registry>(std::move(options));
  app->registry_->load_all();

  // A section for a plugin that did not load is almost always a typo.
  for (const auto& [name, section] : app->config_.plugins.items()) {
    bool found = false;
    for (const auto& record : app->registry_->plugins()) {
      found = found || (record.name == name);
    }
    if (!found) {
      spdlog::warn("{}: config has a section for plugin \"{}\", but no plugin of that name was "
                   "found in the plugin directories",
                   app->config_.plugin_locations.value(name, app->config_.source), name);
    }
  }

  if (auto backend = app->registry_->log_aggregation()) {
    auto connected = backend->connect();
    if (!connected) {
      spdlog::error("backend {} failed to connect: {}: {}", backend->backend_name(),
                    connected.error().code, connected.error().message);
    }
  } else {
    spdlog::error("no log_aggregation backend named \"{}\" is loaded (loaded: {}); check "
                  "log_aggregation.backend in {} and `sample_host plugins`",
                  app->config_.log_aggregation_backend,
                  [&] {
                    std::string names;
                    for (const auto& n : app->registry_->backend_names()) {
                      names += (names.empty() ? "" : ", ") + n;
                    }
                    return names.empty() ? std::string("none") : names;
                  }(),
                  app->config_.source);
  }
  return app;
}

Result<std::shared_ptr<LogAggregationProtocol>> Application::backend() {
  auto backend = registry_->log_aggregation();
  if (!backend) {
    return unavailable("host.no_backend",
                       "no log_aggregation backend named \"" + config_.log_aggregation_backend +
                           "\" is loaded; run `sample_host plugins` to see what loaded");
  }
  return backend;
}

}  // namespace lognurse::host
