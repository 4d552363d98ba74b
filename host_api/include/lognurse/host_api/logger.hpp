#pragma once

// The logger a host hands to each plugin. Plugins never configure logging of
// their own; they write one line per event through this interface.

#include <string_view>

namespace lognurse {

enum class LogLevel { debug, info, warn, error };

class Logger {
public:
  virtual ~Logger();
  virtual void log(LogLevel level, std::string_view message) = 0;

  void debug(std::string_view message) { log(LogLevel::debug, message); }
  void info(std::string_view message) { log(LogLevel::info, message); }
  void warn(std::string_view message) { log(LogLevel::warn, message); }
  void error(std::string_view message) { log(LogLevel::error, message); }
};

}  // namespace lognurse
