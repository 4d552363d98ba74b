#pragma once

// Forwards the log records written while an MCP tool call runs to that call's
// client as notifications/message. Plugins log through the loggers the host
// hands them; a sink on every logger sees each record, and a thread-local
// capture, set only for the duration of one call on the calling thread, decides
// where the record goes. Records from other threads (monitors, other calls) are
// never sent to a client.

#include <functional>
#include <string>
#include <string_view>

namespace lognurse::host {

/// MCP's log levels (RFC 5424 severities), least severe first.
enum class McpLogLevel { debug, info, notice, warning, error, critical, alert, emergency };

/// Parses "debug" … "emergency"; returns false for anything else.
bool parse_mcp_log_level(std::string_view text, McpLogLevel& level);

/// The level's name as MCP spells it.
const char* to_string(McpLogLevel level);

/// Receives one record: its level, the logger's name and the message text.
using LogRecordHandler =
    std::function<void(McpLogLevel level, const std::string& logger, const std::string& text)>;

/// Adds the forwarding sink to every spdlog logger registered so far and to
/// the default logger (loggers cloned later inherit it). Idempotent; call it
/// once the plugins are loaded and before requests are served, because adding
/// a sink is not safe while another thread logs through the same logger.
void install_log_forwarder();

/// Sends the records logged on this thread to `handler` while it lives.
/// Nesting is not supported: an inner capture replaces the outer one until it
/// ends.
class ScopedLogCapture {
public:
  explicit ScopedLogCapture(LogRecordHandler handler);
  ~ScopedLogCapture();
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;

private:
  LogRecordHandler handler_;
  const LogRecordHandler* previous_;
};

}  // namespace lognurse::host
