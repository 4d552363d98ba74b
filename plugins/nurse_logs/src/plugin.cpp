// Entry points of the nurse_logs plugin.

#include "lognurse/host_api/plugin.hpp"

#include <chrono>

#include "monitor.hpp"
#include "nurse_tools.hpp"

namespace lognurse::nurse {

class NurseLogsPlugin final : public Plugin {
public:
  explicit NurseLogsPlugin(const HostContext& context) {
    MonitorOptions monitor_options;
    auto options = parse_nurse_options(context.config, monitor_options);
    if (!options) throw std::invalid_argument(options.error().message);

    auto lookup = context.lookup;
    auto backend = [lookup] { return lookup ? lookup(kLogAggregation) : nullptr; };
    monitor_ = std::make_shared<Monitor>(backend, monitor_options, context.logger);
    tools_ = std::make_shared<NurseTools>(backend, options.value(), monitor_);
    if (monitor_options.interval.count() > 0) {
      // The first check runs soon after start so that the state is known.
      monitor_->start(std::chrono::milliseconds(1000));
    }
  }

  ~NurseLogsPlugin() override { shutdown(); }

  std::vector<std::shared_ptr<ToolProvider>> tool_providers() override { return {tools_}; }

  void shutdown() override { monitor_->stop(); }

private:
  std::shared_ptr<Monitor> monitor_;
  std::shared_ptr<NurseTools> tools_;
};

}  // namespace lognurse::nurse

LOGNURSE_PLUGIN(lognurse::nurse::NurseLogsPlugin, "nurse_logs", "0.1.0", "tools")
