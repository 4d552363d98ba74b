#pragma once

// Wrappers that turn an exception escaping a plugin into an error result, so
// that a faulty plugin fails one call instead of the host.

#include <memory>

#include "lognurse/host_api/log_aggregation.hpp"

namespace lognurse::registry {

/// Wraps a backend; every call catches and converts exceptions to the error
/// code "plugin.exception".
std::shared_ptr<LogAggregationProtocol> guard(std::shared_ptr<LogAggregationProtocol> inner);

}  // namespace lognurse::registry
