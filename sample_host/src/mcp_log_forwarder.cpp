#include "mcp_log_forwarder.hpp"

#include <array>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace lognurse::host {

namespace {

constexpr std::array<const char*, 8> kLevelNames = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};

thread_local const LogRecordHandler* current_handler = nullptr;

McpLogLevel from_spdlog(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return McpLogLevel::debug;
    case spdlog::level::info: return McpLogLevel::info;
    case spdlog::level::warn: return McpLogLevel::warning;
    case spdlog::level::err: return McpLogLevel::error;
    default: return McpLogLevel::critical;
  }
}

/// Hands records to the capture of the thread that logs them. The handler is
/// called with the sink's mutex held, so it must not log through spdlog.
class ForwardingSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    const LogRecordHandler* handler = current_handler;
    if (handler == nullptr) return;
    (*handler)(from_spdlog(message.level),
               std::string(message.logger_name.data(), message.logger_name.size()),
               std::string(message.payload.data(), message.payload.size()));
  }
  void flush_() override {}
};

}  // namespace

bool parse_mcp_log_level(std::string_view text, McpLogLevel& level) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
    if (text == kLevelNames[i]) {
      level = static_cast<McpLogLevel>(i);
      return true;
    }
  }
  return false;
}

const char* to_string(McpLogLevel level) { return kLevelNames[static_cast<std::size_t>(level)]; }

void install_log_forwarder() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto sink = std::make_shared<ForwardingSink>();
    auto add = [&](const std::shared_ptr<spdlog::logger>& logger) {
      auto& sinks = logger->sinks();
      for (const auto& existing : sinks) {
        if (existing == sink) return;
      }
      sinks.push_back(sink);
    };
    spdlog::apply_all(add);
    add(spdlog::default_logger());
  });
}

ScopedLogCapture::ScopedLogCapture(LogRecordHandler handler)
    : handler_(std::move(handler)), previous_(current_handler) {
  current_handler = &handler_;
}

ScopedLogCapture::~ScopedLogCapture() { current_handler = previous_; }

}  // namespace lognurse::host
