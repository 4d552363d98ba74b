// The text of a tools/call answer, built without a second serialisation of the tool's value.

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mcp.hpp"

using lognurse::host::tool_call_response_text;
using lognurse::host::tool_result_to_mcp;
using nlohmann::json;

namespace {

std::string dumped_response(const json& id, const json& value) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", tool_result_to_mcp(value)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

TEST_CASE("a tools/call answer has the bytes of dumping the whole response") {
  const json value = {
      {"status", "success"},
      {"data",
       {{"resultType", "streams"},
        {"result",
         json::array({{{"stream", {{"service_name", "api"}}},
                       {"values", json::array({json::array(
                                      {"1700000000000000000",
                                       "quote \" backslash \\ tab \t newline \n caf\xC3\xA9 "
                                       "\x01 bad \xFF end"})})}}})}}},
      {"metadata", {{"lines_returned", 1}, {"truncated", false}, {"ratio", 0.5}}}};
  CHECK(tool_call_response_text(7, value) == dumped_response(7, value));
  CHECK(tool_call_response_text("call-\"8\"", value) == dumped_response("call-\"8\"", value));
  CHECK(tool_call_response_text(1, json::object()) == dumped_response(1, json::object()));
  CHECK(tool_call_response_text(2, json::array({1, "two"})) ==
        dumped_response(2, json::array({1, "two"})));
}

TEST_CASE("a tools/call answer parses to the text block and the same structuredContent") {
  const json value = {{"lines", json::array({"a", "b"})}};
  const json answer = json::parse(tool_call_response_text(3, value));
  CHECK(answer["result"]["structuredContent"] == value);
  CHECK(answer["result"]["content"][0]["text"] == value.dump());
  CHECK(answer["result"]["isError"] == false);
}
