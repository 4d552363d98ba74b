#include <catch2/catch.hpp>

#include "ingest.hpp"
#include "lognurse/host_api/time.hpp"
#include "timestamps.hpp"

using lognurse::parse_time;
using lognurse::host::parse_line_timestamp;

namespace {

std::int64_t at(const char* rfc3339) { return parse_time(rfc3339).value(); }

const std::int64_t kReference = at("2026-12-04T15:00:00Z");

}  // namespace

TEST_CASE("line timestamps are found in the common forms") {
  CHECK(parse_line_timestamp("2026-12-04T14:33:11Z level=info msg=x", kReference) ==
        at("2026-12-04T14:33:11Z"));
  CHECK(parse_line_timestamp("2026-12-04T14:33:11.123+01:00 x", kReference) ==
        at("2026-12-04T13:33:11.123Z"));
  CHECK(parse_line_timestamp("2026-11-30 06:25:01 status installed man-db:amd64", kReference) ==
        at("2026-11-30T06:25:01Z"));
  CHECK(parse_line_timestamp("2026/12/04 14:33:11 [error] 12#12: *1 open() failed", kReference) ==
        at("2026-12-04T14:33:11Z"));
  CHECK(parse_line_timestamp(
            R"(127.0.0.1 - - [04/Dec/2026:14:33:11 +0000] "GET / HTTP/1.1" 200 612)", kReference) ==
        at("2026-12-04T14:33:11Z"));
  CHECK(parse_line_timestamp(
            R"(10.0.0.1 - - [04/Dec/2026:15:33:11 +0100] "GET / HTTP/1.1" 200 612)", kReference) ==
        at("2026-12-04T14:33:11Z"));
  CHECK(parse_line_timestamp("Dec  4 14:33:11 host sshd[1]: Accepted", kReference) ==
        at("2026-12-04T14:33:11Z"));
}

TEST_CASE("a date after one leading word is found, as apt and update-alternatives write it") {
  CHECK(parse_line_timestamp("Start-Date: 2026-11-30  06:25:01", kReference) ==
        at("2026-11-30T06:25:01Z"));
  CHECK(parse_line_timestamp("update-alternatives 2026-11-30 06:25:02: run with --install",
                             kReference) == at("2026-11-30T06:25:02Z"));
  CHECK_FALSE(parse_line_timestamp("GET /2026-11-30 06:25:02", kReference));
  CHECK_FALSE(parse_line_timestamp("a b 2026-11-30 06:25:02", kReference));
}

TEST_CASE("a syslog date after the reference belongs to the previous year") {
  CHECK(parse_line_timestamp("Dec 31 23:59:59 host cron[1]: x", at("2027-01-01T00:10:00Z")) ==
        at("2026-12-31T23:59:59Z"));
  CHECK(parse_line_timestamp("Dec 30 10:00:00 host x", at("2026-01-02T00:00:00Z")) ==
        at("2025-12-30T10:00:00Z"));
}

TEST_CASE("lines without a recognisable timestamp give none") {
  CHECK_FALSE(parse_line_timestamp("Start-Date: soon", kReference));
  CHECK_FALSE(parse_line_timestamp("", kReference));
  CHECK_FALSE(parse_line_timestamp("[04/Foo/2026:14:33:11 +0000]", kReference));
  CHECK_FALSE(parse_line_timestamp("2026-13-40 25:61:61 bad", kReference));
}

TEST_CASE("the ingest label list parses name=value pairs with quoted values") {
  auto labels = lognurse::host::parse_label_list("service_name=nginx,env=\"a,b\",team=web");
  REQUIRE(labels.ok());
  CHECK(labels.value() == lognurse::Labels{{"env", "a,b"}, {"service_name", "nginx"}, {"team", "web"}});
  auto bad = lognurse::host::parse_label_list("9lives=x");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("\"9lives\" is not a valid label name"));
  CHECK_FALSE(lognurse::host::parse_label_list("novalue").ok());
}
