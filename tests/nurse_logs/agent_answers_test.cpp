#include <catch2/catch.hpp>

#include "agent_answers.hpp"
#include "lognurse/host_api/time.hpp"

using namespace lognurse;
using namespace lognurse::nurse;

TEST_CASE("edit_distance counts insertions, deletions and substitutions") {
  CHECK(edit_distance("checkout", "checkout") == 0);
  CHECK(edit_distance("checkuot", "checkout") == 2);
  CHECK(edit_distance("", "api") == 3);
  CHECK(edit_distance("nginx", "ngin") == 1);
}

TEST_CASE("closest_values ranks known values by distance and keeps ties in order") {
  const std::vector<std::string> known = {"payments", "checkout", "cart", "checkouts"};
  CHECK(closest_values("checkuot", known, 2) == std::vector<std::string>{"checkout", "checkouts"});
  CHECK(closest_values("x", {}, 3).empty());
}

TEST_CASE("line_pattern replaces numbers, ids and quoted strings with <_>") {
  CHECK(line_pattern("payment 4411 failed after 120ms") == "payment <_> failed after <_>");
  CHECK(line_pattern("user \"bob smith\" id=7f3a logged in") == "user <_> id=<_> logged in");
  CHECK(line_pattern("trace deadbeefdeadbeef0 done") == "trace <_> done");
  CHECK(line_pattern("connection reset by peer") == "connection reset by peer");
  CHECK(line_pattern("from 10.0.0.1:443 [GET]") == "from <_>:<_> [GET]");
}

TEST_CASE("check_query_cost refuses a range over the maximum and allows the inclusive end") {
  const std::int64_t day = 24 * 3600 * kNanosPerSecond;
  CHECK(check_query_cost({0, day + 1}, day).ok());
  const auto long_range = check_query_cost({0, 2 * day + 1}, day);
  REQUIRE_FALSE(long_range.ok());
  CHECK(long_range.error().code == "nurse.range_too_long");
  CHECK(long_range.error().message ==
        "the time range 2d is longer than the maximum 1d; narrow it with since (e.g. \"1h\") or "
        "start and end, or raise plugins.nurse_logs.max_range_hours");
}

TEST_CASE("compact_result groups lines by stream with RFC 3339 times") {
  QueryResult result;
  result.streams.push_back({{{"app", "a"}}, {{kNanosPerSecond, "one", {}}}});
  const auto compact = compact_result(result);
  CHECK(compact == nlohmann::json::parse(
                       R"({"resultType":"compact","streams":[{"labels":{"app":"a"},)"
                       R"("lines":["1970-01-01T00:00:01Z one"]}]})"));
}
