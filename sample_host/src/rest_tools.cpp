#include "rest_tools.hpp"

#include <httplib.h>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/shortened.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Query parameters as tool arguments: digit-only values become integers,
/// everything else stays a string.
json query_arguments(const httplib::Request& req) {
  json arguments = json::object();
  for (const auto& [key, value] : req.params) {
    const bool integer = !value.empty() && value.size() < 19 &&
                         value.find_first_not_of("0123456789") == std::string::npos;
    arguments[key] = integer ? json(std::stoll(value)) : json(value);
  }
  return arguments;
}

}  // namespace

void send_rest_error(httplib::Response& res, const Error& error) {
  res.status = error.http_status();
  res.set_content(dump({{"status", "error"},
                        {"error", {{"code", error.code}, {"message", shortened(error.message)}}}}),
                  "application/json");
}

void refuse_other_methods(httplib::Server& server, const std::string& path,
                          const std::string& allow) {
  const auto refuse = [allow](const httplib::Request& req, httplib::Response& res) {
    send_rest_error(res, Error{ErrorKind::invalid_argument, "http.method_not_allowed",
                               req.method + " " + req.path + " is not a route; " + req.path +
                                   " takes " + allow});
    res.status = 405;
    res.set_header("Allow", allow);
  };
  const auto allowed = [&allow](const std::string& method) {
    return allow == method || allow.rfind(method + ",", 0) == 0 ||
           allow.find(", " + method) != std::string::npos;
  };
  if (!allowed("GET")) server.Get(path, refuse);
  if (!allowed("POST")) server.Post(path, refuse);
  if (!allowed("PUT")) server.Put(path, refuse);
  if (!allowed("DELETE")) server.Delete(path, refuse);
  if (!allowed("PATCH")) server.Patch(path, refuse);
}

void answer_tool_call(registry::Registry& registry, const std::string& tool,
                      const httplib::Request& req, httplib::Response& res) {
  json arguments = json::object();
  if (req.method == "GET") {
    arguments = query_arguments(req);
  } else if (!req.body.empty()) {
    if (const auto problem = parse_json_text(req.body, arguments); !problem.empty()) {
      send_rest_error(res, invalid_argument("http.malformed_json",
                                            "request body is " + problem +
                                                "; send an object of the tool's arguments"));
      return;
    }
  }
  auto result = registry.call_tool(tool, arguments);
  if (!result) {
    send_rest_error(res, result.error());
    return;
  }
  res.set_content(dump(result.value()), "application/json");
}

}  // namespace lognurse::host
