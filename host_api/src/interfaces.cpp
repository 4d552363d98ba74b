// Out-of-line destructors anchor each interface's type information in
// libhost_api.so, so that dynamic_cast and catch work across plugin objects.

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/logger.hpp"
#include "lognurse/host_api/plugin.hpp"
#include "lognurse/host_api/tool_provider.hpp"

namespace lognurse {

LogAggregationProtocol::~LogAggregationProtocol() = default;
ToolProvider::~ToolProvider() = default;
Logger::~Logger() = default;
Plugin::~Plugin() = default;

}  // namespace lognurse
