#include <catch2/catch.hpp>

#include "lognurse/host_api/time.hpp"

using namespace lognurse;

TEST_CASE("parse_time reads RFC 3339, Unix seconds and nanoseconds") {
  CHECK(parse_time("2026-12-04T14:33:11Z").value() == 1796394791LL * kNanosPerSecond);
  CHECK(parse_time("2026-12-04T15:33:11+01:00").value() == 1796394791LL * kNanosPerSecond);
  CHECK(parse_time("2026-12-04T14:33:11.25Z").value() == 1796394791250000000LL);
  CHECK(parse_time("1796394791").value() == 1796394791000000000LL);
  CHECK(parse_time("1796394791.5").value() == 1796394791500000000LL);
  CHECK(parse_time("1796394791000000007").value() == 1796394791000000007LL);
}

TEST_CASE("parse_time accepts the 29th of February only in leap years") {
  CHECK(parse_time("2028-02-29T00:00:00Z").value() == 1835395200LL * kNanosPerSecond);
  CHECK(parse_time("2000-02-29T12:00:00Z").value() == 951825600LL * kNanosPerSecond);
}

TEST_CASE("parse_time rejects malformed times with a message that shows the forms") {
  for (const char* bad : {"", "yesterday", "2026-13-04T00:00:00Z", "2026-12-04T14:33:11",
                          "12.3.4", "-5", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z",
                          "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z"}) {
    auto parsed = parse_time(bad);
    INFO(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "time.invalid");
    CHECK_THAT(parsed.error().message, Catch::Contains("RFC 3339"));
  }
}

TEST_CASE("parse_duration reads Loki durations") {
  CHECK(parse_duration("5m").value() == 300 * kNanosPerSecond);
  CHECK(parse_duration("1h30m").value() == 5400 * kNanosPerSecond);
  CHECK(parse_duration("250ms").value() == 250'000'000);
  CHECK(parse_duration("30").value() == 30 * kNanosPerSecond);
  CHECK(parse_duration("1.5").value() == 1'500'000'000);
  CHECK_FALSE(parse_duration("5 minutes").ok());
  CHECK_FALSE(parse_duration("h").ok());
}

TEST_CASE("format_time and format_duration print compact UTC forms") {
  CHECK(format_time(1796394791LL * kNanosPerSecond) == "2026-12-04T14:33:11Z");
  CHECK(format_time(1796394791000000007LL) == "2026-12-04T14:33:11.000000007Z");
  CHECK(format_duration(5400 * kNanosPerSecond) == "1h30m");
  CHECK(format_duration(250'000'000) == "250ms");
  CHECK(format_duration(0) == "0s");
}

TEST_CASE("parse_time refuses times that Unix nanoseconds in 64 bits cannot hold") {
  CHECK(parse_time("2262-04-11T23:47:16Z").value() == 9223372036LL * kNanosPerSecond);
  CHECK(parse_time("1677-09-21T00:12:44Z").value() == -9223372036LL * kNanosPerSecond);
  CHECK(parse_time("9223372036.854775807").value() == 9223372036854775807LL);
  for (const char* far : {"2262-04-11T23:47:17Z", "9999-12-31T23:59:59Z", "1677-09-21T00:12:43Z",
                          "0000-01-01T00:00:00Z", "9223372037", "999999999999999",
                          "9223372036.854775808", "99999999999.5"}) {
    auto parsed = parse_time(far);
    INFO(far);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "time.out_of_range");
    CHECK(parsed.error().message ==
          "time \"" + std::string(far) +
              "\" is outside what Unix nanoseconds in 64 bits can hold "
              "(1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z)");
  }
}
