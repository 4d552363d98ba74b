#pragma once

// The REST face of the tool catalog, shared by the routes installed at start
// and the catch-all route that serves tools loaded later: the JSON error body,
// and one tool call from a request (query parameters for GET, a JSON object
// body for POST).

#include <string>

#include "lognurse/host_api/result.hpp"
#include "lognurse/registry/registry.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace lognurse::host {

/// Answers {"status":"error","error":{"code":…,"message":…}} with the error's
/// HTTP status.
void send_rest_error(httplib::Response& res, const Error& error);

/// Makes every method of GET, POST, PUT, DELETE and PATCH that `allow` ("GET" or "GET, POST")
/// leaves out answer 405 at `path` (a literal path or one of httplib's patterns), with the
/// Allow header and a JSON error naming the methods the route takes (RFC 9110, 15.5.6). Install
/// the route's own methods first.
void refuse_other_methods(httplib::Server& server, const std::string& path,
                          const std::string& allow);

/// Calls `tool` with the request's arguments and answers with its JSON result
/// or its error. GET query parameters become arguments (digit-only values as
/// integers); a POST body must be a JSON object.
void answer_tool_call(registry::Registry& registry, const std::string& tool,
                      const httplib::Request& req, httplib::Response& res);

}  // namespace lognurse::host
