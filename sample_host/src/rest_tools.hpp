#pragma once

// The REST face of the tool catalog, shared by the routes installed at start
// and the catch-all route that serves tools loaded later: the JSON error body,
// and one tool call from a request (query parameters for GET, a JSON object
// body for POST).

#include <string>

#include "lognurse/host_api/result.hpp"
#include "lognurse/registry/registry.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace lognurse::host {

/// Answers {"status":"error","error":{"code":…,"message":…}} with the error's
/// HTTP status.
void send_rest_error(httplib::Response& res, const Error& error);

/// Calls `tool` with the request's arguments and answers with its JSON result
/// or its error. GET query parameters become arguments (digit-only values as
/// integers); a POST body must be a JSON object.
void answer_tool_call(registry::Registry& registry, const std::string& tool,
                      const httplib::Request& req, httplib::Response& res);

}  // namespace lognurse::host
