// Address ranges of the ip() filter.

#include <catch2/catch.hpp>

#include <string>

#include "lognurse/logql/ip.hpp"

using lognurse::logql::IpRange;

namespace {

IpRange range(const std::string& spec) {
  std::string error;
  auto parsed = IpRange::parse(spec, error);
  INFO(error);
  REQUIRE(parsed.has_value());
  return *parsed;
}

bool refused(const std::string& spec) {
  std::string error;
  return !IpRange::parse(spec, error).has_value() && !error.empty();
}

}  // namespace

TEST_CASE("a single IPv4 address matches only itself") {
  IpRange r = range("10.0.0.5");
  CHECK(r.contains("10.0.0.5"));
  CHECK_FALSE(r.contains("10.0.0.6"));
}

TEST_CASE("an IPv4 CIDR range holds the addresses under its prefix") {
  IpRange r = range("192.168.0.0/16");
  CHECK(r.contains("192.168.0.0"));
  CHECK(r.contains("192.168.255.255"));
  CHECK_FALSE(r.contains("192.169.0.0"));
  CHECK_FALSE(r.contains("10.0.0.1"));
}

TEST_CASE("a dash range is inclusive at both ends") {
  IpRange r = range("192.168.1.1-192.168.1.100");
  CHECK(r.contains("192.168.1.1"));
  CHECK(r.contains("192.168.1.100"));
  CHECK_FALSE(r.contains("192.168.1.101"));
}

TEST_CASE("IPv6 ranges use the same forms, with :: shorthand") {
  IpRange r = range("2001:db8::/32");
  CHECK(r.contains("2001:db8::1"));
  CHECK(r.contains("2001:0db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  CHECK_FALSE(r.contains("2001:db9::1"));
  CHECK(range("::1").contains("0:0:0:0:0:0:0:1"));
}

TEST_CASE("the line filter finds an address anywhere in the line") {
  IpRange r = range("10.0.0.0/8");
  CHECK(r.matches_line("connection reset from 10.1.2.3:443 after 5s"));
  CHECK_FALSE(r.matches_line("connection reset from 11.1.2.3 after 5s"));
  CHECK_FALSE(r.matches_line("version 10.1.2 released"));
}

TEST_CASE("malformed ranges are refused with a reason") {
  CHECK(refused("10.0.0.256"));
  CHECK(refused("10.0.0.0/33"));
  CHECK(refused("10.0.0.9-10.0.0.1"));
  CHECK(refused("1:2:3:4:5:6:7:8:9"));
  CHECK(refused("not-an-ip"));
  CHECK(refused(""));
}
