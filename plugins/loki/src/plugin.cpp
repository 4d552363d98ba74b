// Entry points of the loki plugin: parses the section, creates the backend and
// offers it as the "log_aggregation" abstraction.

#include <stdexcept>

#include "lognurse/host_api/plugin.hpp"
#include "loki_backend.hpp"
#include "loki_config.hpp"

namespace lognurse::loki {

/// The plugin object the registry owns.
class LokiPlugin final : public Plugin {
public:
  /// Throws std::invalid_argument, naming the key, when the section is wrong.
  explicit LokiPlugin(const HostContext& context) {
    auto config = parse_config(context.config);
    if (!config) throw std::invalid_argument(config.error().message);
    backend_ = std::make_shared<LokiBackend>(std::move(config).value(), context.logger,
                                             context.metrics);
  }

  ~LokiPlugin() override { shutdown(); }

  /// The Loki backend under "log_aggregation".
  std::vector<std::pair<std::string, std::shared_ptr<LogAggregationProtocol>>>
  log_aggregation_backends() override {
    return {{kLogAggregation, backend_}};
  }

  /// Ends retry waits so that callers return promptly.
  void shutdown() override { backend_->shutdown(); }

private:
  std::shared_ptr<LokiBackend> backend_;
};

}  // namespace lognurse::loki

LOGNURSE_PLUGIN(lognurse::loki::LokiPlugin, "loki", "0.1.0", "log_aggregation")
