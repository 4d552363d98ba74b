// Time arguments of the Nurse tools: RFC 3339, Unix seconds and Unix nanoseconds.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "arguments.hpp"

using lognurse::nurse::optional_time;
using nlohmann::json;

TEST_CASE("a time argument may be RFC 3339, Unix seconds or Unix nanoseconds") {
  const std::int64_t expected = 1796394791LL * 1'000'000'000LL;
  for (const json& value : {json("2026-12-04T14:33:11Z"), json(1796394791), json(1796394791.0),
                            json("1796394791"), json(1796394791000000000LL),
                            json("1796394791000000000")}) {
    INFO(value.dump());
    auto parsed = optional_time(json{{"start", value}}, "start", "arguments");
    REQUIRE(parsed.ok());
    CHECK(parsed.value() == expected);
  }
}

TEST_CASE("a time argument out of every range says which forms it takes") {
  auto parsed = optional_time(json{{"start", -5}}, "start", "arguments");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message ==
        "arguments.start is out of range: give Unix seconds (at most 10 digits), Unix "
        "nanoseconds (19 digits) or an RFC 3339 string");
}

TEST_CASE("a hint to widen the range suggests a range wider than the one asked for") {
  using lognurse::TimeRange;
  using lognurse::nurse::widen_suggestion;
  constexpr std::int64_t kHour = 3600LL * 1'000'000'000;
  const std::int64_t end = 1796394791LL * 1'000'000'000LL;
  CHECK(widen_suggestion(TimeRange{end - kHour, end}) == "since (e.g. \"24h\")");
  CHECK(widen_suggestion(TimeRange{end - 24 * kHour, end}) == "since (e.g. \"7d\")");
  CHECK(widen_suggestion(TimeRange{end - 7 * 24 * kHour, end}) == "an earlier start");
}
