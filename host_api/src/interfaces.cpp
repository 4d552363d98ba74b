// Out-of-line destructors anchor each interface's type information in
// libhost_api.so, so that dynamic_cast and catch work across plugin objects.

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/logger.hpp"
#include "lognurse/host_api/plugin.hpp"
#include "lognurse/host_api/tool_provider.hpp"

namespace lognurse {

LogAggregationProtocol::~LogAggregationProtocol() = default;

namespace {

Error unsupported(const LogAggregationProtocol& backend, const char* operation) {
  return Error{ErrorKind::unavailable, "backend.unsupported",
               "the " + backend.backend_name() + " backend does not support " + operation};
}

}  // namespace

Result<std::vector<Labels>> LogAggregationProtocol::series(const std::string&,
                                                           const std::vector<std::string>&,
                                                           const TimeRange&) {
  return unsupported(*this, "series");
}

Result<IndexStats> LogAggregationProtocol::stats(const std::string&, const std::string&,
                                                 const TimeRange&) {
  return unsupported(*this, "index stats");
}

Result<QueryResult> LogAggregationProtocol::volume(const VolumeRequest&) {
  return unsupported(*this, "index volume");
}

Result<std::vector<LogPattern>> LogAggregationProtocol::patterns(const std::string&,
                                                                 const std::string&,
                                                                 const TimeRange&, std::int64_t) {
  return unsupported(*this, "patterns");
}

Result<std::vector<DetectedField>> LogAggregationProtocol::detected_fields(const std::string&,
                                                                           const std::string&,
                                                                           const TimeRange&,
                                                                           std::size_t) {
  return unsupported(*this, "detected fields");
}
ToolProvider::~ToolProvider() = default;
Logger::~Logger() = default;
Plugin::~Plugin() = default;

}  // namespace lognurse
