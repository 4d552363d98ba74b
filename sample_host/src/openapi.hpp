#pragma once

// The OpenAPI 3.1 document of the REST routes, generated from the tool
// catalog: one operation per tool route, its arguments as the request body
// (POST) or query parameters (GET), its output schema as the 200 response,
// and the error envelope for 4xx and 5xx.

#include <nlohmann/json.hpp>

#include "lognurse/registry/registry.hpp"

namespace lognurse::host {

/// Builds the document for the tools of `registry` as they are now.
nlohmann::json openapi_document(const registry::Registry& registry);

}  // namespace lognurse::host
