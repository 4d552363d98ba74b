#include <catch2/catch.hpp>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "lognurse/host_api/json.hpp"

using namespace lognurse;

TEST_CASE("push decoder reads streams, values and structured metadata") {
  const auto body = R"({"streams":[{"stream":{"b":"2","a":"1"},
    "values":[["1733322791000000001","first"],["1733322791000000002","second",{"trace_id":"abc"}]]}]})";
  auto request = push_request_from_json(body, "tenant-a");
  REQUIRE(request.ok());
  const auto& push = request.value();
  CHECK(push.tenant == "tenant-a");
  REQUIRE(push.streams.size() == 1);
  CHECK(push.streams[0].labels == Labels{{"a", "1"}, {"b", "2"}});
  REQUIRE(push.streams[0].entries.size() == 2);
  CHECK(push.streams[0].entries[0].timestamp_ns == 1733322791000000001);
  CHECK(push.streams[0].entries[0].line == "first");
  CHECK(push.streams[0].entries[1].metadata == Labels{{"trace_id", "abc"}});
}

TEST_CASE("push decoder names the value at fault") {
  SECTION("a numeric timestamp") {
    auto request = push_request_from_json(
        R"({"streams":[{"stream":{"a":"1"},"values":[["1","ok"],[2,"bad"]]}]})", "fake");
    REQUIRE_FALSE(request.ok());
    CHECK(request.error().code == "push.bad_timestamp");
    CHECK_THAT(request.error().message, Catch::StartsWith("streams[0].values[1][0]: timestamp must be a string"));
  }
  SECTION("a timestamp that is not digits") {
    auto request = push_request_from_json(
        R"({"streams":[{"stream":{"a":"1"},"values":[["12x","bad"]]}]})", "fake");
    REQUIRE_FALSE(request.ok());
    CHECK(request.error().message ==
          "streams[0].values[0][0]: timestamp \"12x\" is not a non-negative integer of Unix "
          "nanoseconds");
  }
  SECTION("a label value that is not a string") {
    auto request = push_request_from_json(R"({"streams":[{"stream":{"a":1},"values":[]}]})", "fake");
    REQUIRE_FALSE(request.ok());
    CHECK(request.error().message == "streams[0].stream.a: label value must be a string, got number");
  }
  SECTION("malformed JSON") {
    auto request = push_request_from_json(R"({"streams":[)", "fake");
    REQUIRE_FALSE(request.ok());
    CHECK(request.error().code == "push.malformed_json");
    CHECK(request.error().http_status() == 400);
  }
  SECTION("no streams array") {
    auto request = push_request_from_json(R"({"stream":[]})", "fake");
    REQUIRE_FALSE(request.ok());
    CHECK(request.error().code == "push.malformed_body");
  }
}

TEST_CASE("query results round-trip through Loki's JSON shape") {
  QueryResult result;
  result.result_type = "streams";
  result.streams.push_back({{{"app", "api"}}, {{5, "hello", {}}, {3, "world", {{"trace_id", "t1"}}}}});
  const auto json = query_result_to_json(result);
  CHECK(json["resultType"] == "streams");
  CHECK(json["result"][0]["stream"] == nlohmann::json{{"app", "api"}});
  CHECK(json["result"][0]["values"][0] == nlohmann::json::array({"5", "hello"}));
  CHECK(json["result"][0]["values"][1] ==
        nlohmann::json::array({"3", "world", {{"trace_id", "t1"}}}));
  auto back = query_result_from_json(json);
  REQUIRE(back.ok());
  CHECK(back.value().streams[0].entries[1].metadata == Labels{{"trace_id", "t1"}});
}

TEST_CASE("matrix samples carry seconds as numbers and values as strings") {
  QueryResult result;
  result.result_type = "matrix";
  result.series.push_back({{{"level", "error"}}, {{1733322791000000000, 3}, {1733322791500000000, 0.5}}});
  const auto json = query_result_to_json(result);
  CHECK(json["result"][0]["values"][0] == nlohmann::json::array({1733322791, "3"}));
  CHECK(json["result"][0]["values"][1][0].get<double>() == Approx(1733322791.5));
  CHECK(json["result"][0]["values"][1][1] == "0.5");
}

TEST_CASE("sample values are written as Prometheus and Loki write them: shortest, no exponent") {
  QueryResult result;
  result.result_type = "vector";
  const std::vector<std::pair<double, std::string>> cases = {
      {200000, "200000"},        {1e6, "1000000"},   {0.0001, "0.0001"},
      {1.1574074074074074e-10, "0.00000000011574074074074074"},
      {-2.5, "-2.5"},            {0, "0"},           {1.0 / 3, "0.3333333333333333"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const auto& [value, text] : cases) {
    result.series.push_back({{{"case", text}}, {{1733322791000000000, value}}});
  }
  result.series.push_back({{{"case", "max"}}, {{1733322791000000000, 1.7976931348623157e308}}});
  const auto json = query_result_to_json(result);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CHECK(json["result"][i]["value"][1] == cases[i].second);
  }
  const std::string largest = json["result"][cases.size()]["value"][1].get<std::string>();
  CHECK(largest.size() == 309);
  CHECK(std::stod(largest) == 1.7976931348623157e308);
}

TEST_CASE("a push body with bytes that are not UTF-8 is refused as such, with the byte") {
  const std::string body = "{\"streams\":[{\"stream\":{\"app\":\"a\"},\"values\":[[\"1\",\"bad \xff\xfe\"]]}]}";
  auto pushed = push_request_from_json(body, "fake");
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().code == "push.malformed_json");
  CHECK(pushed.error().message.rfind("push body is not valid UTF-8 at byte ", 0) == 0);
  auto surrogate = push_request_from_json(
      R"({"streams":[{"stream":{"app":"a"},"values":[["1","\ud800"]]}]})", "fake");
  REQUIRE_FALSE(surrogate.ok());
  CHECK(surrogate.error().message.find("not valid UTF-8") != std::string::npos);
  CHECK(push_request_from_json("{\"streams\":[}", "fake").error().message ==
        "push body is not valid JSON at byte 13");
}

TEST_CASE("JSON nested deeper than 256 levels is refused before it is parsed") {
  auto nested = [](int depth, const std::string& inner) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += i % 2 == 0 ? "[" : "{\"k\":";
    text += inner;
    for (int i = depth - 1; i >= 0; --i) text += i % 2 == 0 ? "]" : "}";
    return text;
  };
  nlohmann::json out;
  CHECK(parse_json_text(nested(256, "1"), out).empty());
  CHECK(parse_json_text(nested(257, "1"), out) ==
        "JSON nested more than 256 levels deep (the bracket at byte 769 opens one more); "
        "flatten the document");
  // Values that nest this deep once exhausted the stack of whatever copied them.
  const std::string deep = "{\"query\":\"{app=\\\"a\\\"}\",\"x\":" + std::string(200000, '[') +
                           std::string(200000, ']') + "}";
  CHECK(parse_json_text(deep, out).find("nested more than 256 levels deep") != std::string::npos);
  // Brackets in strings, escaped quotes among them, are text.
  const std::string in_strings = "{\"a\":\"" + std::string(1000, '[') + "\\\"" +
                                 std::string(1000, '{') + "\"}";
  CHECK(parse_json_text(in_strings, out).empty());
  CHECK(out["a"].get<std::string>().size() == 2001);
  // A body that only opens brackets gets the depth error, not a parse error at its end.
  CHECK(parse_json_text(std::string(300, '['), out).find("nested more than 256") !=
        std::string::npos);
  auto refused = push_request_from_json(deep, "fake");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("push body is JSON nested more than 256 levels deep") == 0);
}
