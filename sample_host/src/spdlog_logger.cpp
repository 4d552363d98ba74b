#include "spdlog_logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lognurse::host {

namespace {

class SpdlogLogger final : public Logger {
public:
  explicit SpdlogLogger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

  void log(LogLevel level, std::string_view message) override {
    switch (level) {
      case LogLevel::debug: logger_->debug("{}", message); break;
      case LogLevel::info: logger_->info("{}", message); break;
      case LogLevel::warn: logger_->warn("{}", message); break;
      case LogLevel::error: logger_->error("{}", message); break;
    }
  }

private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

void configure_logging(const std::string& level) {
  // Standard output is reserved for command results and MCP over stdio.
  spdlog::drop("host");
  auto logger = spdlog::stderr_color_mt("host");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

std::shared_ptr<Logger> make_logger(const std::string& name) {
  auto logger = spdlog::get(name);
  if (!logger) {
    logger = spdlog::default_logger()->clone(name);
    spdlog::register_logger(logger);
  }
  return std::make_shared<SpdlogLogger>(std::move(logger));
}

}  // namespace lognurse::host
