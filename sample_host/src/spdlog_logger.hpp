#pragma once

// The host's implementation of the plugin Logger on spdlog: one named logger
// per plugin, all writing to standard error.

#include <memory>
#include <string>

#include "lognurse/host_api/logger.hpp"

namespace lognurse::host {

/// Sets up the process-wide stderr logging at `level` (debug, info, warn, error).
void configure_logging(const std::string& level);

/// A Logger whose lines carry `name` ("local_store", "nurse_logs").
std::shared_ptr<Logger> make_logger(const std::string& name);

}  // namespace lognurse::host
