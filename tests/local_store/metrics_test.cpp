// Metrics: volume, levels, services and error rate from SQL aggregates.

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {

using Counts = std::vector<std::pair<std::string, std::uint64_t>>;

TEST_CASE("metrics counts lines, bytes, levels and services exactly") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store
              ->push(request({
                  stream({{"service_name", "checkout"}, {"level", "ERROR"}},
                         {entry(1, "boom"), entry(2, "crash")}),
                  stream({{"job", "nginx"}}, {entry(3, "GET / 200 info"),
                                              entry(4, "level=warn slow"), entry(5, "plain")}),
                  stream({{"app", "worker"}},
                         {entry(6, "{\"level\":\"fatal\",\"msg\":\"x\"}"),
                          entry(7, "x", {{"level", "debug"}}), entry(8, "CRITICAL disk")}),
                  stream({{"host", "h1"}}, {entry(9, "error: nope")}),
              }))
              .ok());
  REQUIRE(store->push(request({stream({{"app", "x"}}, {entry(5, "error")})}, "other")).ok());

  auto metrics = store->metrics("fake", range(0, 100));
  REQUIRE(metrics.ok());
  const LogMetrics& m = metrics.value();
  CHECK(m.range.start_ns == kBase);
  CHECK(m.lines == 9);
  CHECK(m.bytes == 4 + 5 + 14 + 15 + 5 + 27 + 1 + 13 + 11);
  CHECK(m.by_level == Counts{{"error", 3},
                             {"critical", 1},
                             {"debug", 1},
                             {"fatal", 1},
                             {"info", 1},
                             {"unknown", 1},
                             {"warn", 1}});
  CHECK(m.by_service ==
        Counts{{"nginx", 3}, {"worker", 3}, {"checkout", 2}, {"unknown_service", 1}});
  CHECK(m.error_lines == 5);
  CHECK(m.error_rate == Approx(5.0 / 9.0));
}

TEST_CASE("metrics covers only the range and the tenant") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(
      store
          ->push(request({stream({{"app", "api"}}, {entry(10, "error one"), entry(20, "info two"),
                                                    entry(30, "error three")})}))
          .ok());

  auto m = store->metrics("fake", range(15, 30)).value();
  CHECK(m.lines == 1);
  CHECK(m.bytes == 8);
  CHECK(m.by_level == Counts{{"info", 1}});
  CHECK(m.error_lines == 0);
  CHECK(m.error_rate == 0);

  auto empty = store->metrics("other", range(0, 100)).value();
  CHECK(empty.lines == 0);
  CHECK(empty.by_level.empty());
  CHECK(empty.by_service.empty());
  CHECK(empty.error_rate == 0);
}

}  // namespace lognurse::local_store::test
