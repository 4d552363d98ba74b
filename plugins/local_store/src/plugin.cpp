// Entry points of the local_store plugin: the embedded log-aggregation backend.

#include "lognurse/host_api/plugin.hpp"

#include <memory>
#include <stdexcept>

#include "local_store.hpp"
#include "store_config.hpp"

namespace lognurse::local_store {

/// Offers one LocalStore as the "log_aggregation" backend named "local_store". A bad
/// configuration makes the factory throw, which the registry reports and refuses.
class LocalStorePlugin final : public Plugin {
public:
  explicit LocalStorePlugin(const HostContext& context) {
    auto config = parse_store_config(context.config, context.data_dir);
    if (!config) throw std::invalid_argument(config.error().code + ": " + config.error().message);
    store_ = std::make_shared<LocalStore>(std::move(config.value()), context.logger,
                                          context.metrics);
  }

  std::vector<std::pair<std::string, std::shared_ptr<LogAggregationProtocol>>>
  log_aggregation_backends() override {
    return {{kLogAggregation, store_}};
  }

private:
  std::shared_ptr<LocalStore> store_;
};

}  // namespace lognurse::local_store

LOGNURSE_PLUGIN(lognurse::local_store::LocalStorePlugin, "local_store", "0.1.0", "log_aggregation")
