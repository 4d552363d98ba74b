// Scans: what the LogQL evaluator reads from the store.

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

using logql::Matcher;
using logql::MatchType;

/// Two services with interleaved timestamps, pushed out of order, plus a third stream.
/// strategy 0 leaves everything in head blocks, 1 compacts both pushes into chunks, 2 compacts
/// the first push only, so that chunks and head blocks of one stream overlap in time.
void push_interleaved(LocalStore& store, int strategy = 0) {
  auto first = store.push(request({
      stream({{"app", "api"}, {"env", "prod"}},
             {entry(30, "api three"), entry(10, "api one"), entry(50, "api five")}),
      stream({{"app", "web"}, {"env", "prod"}}, {entry(20, "web two"), entry(40, "web four")}),
  }));
  REQUIRE(first.ok());
  if (strategy == 2) REQUIRE(store.compact(true).ok());
  auto second = store.push(request({
      stream({{"env", "dev"}, {"app", "api"}}, {entry(35, "dev api"), entry(60, "dev late")}),
      stream({{"app", "web"}, {"env", "prod"}}, {entry(45, "web late error")}),
  }));
  REQUIRE(second.ok());
  if (strategy == 1) REQUIRE(store.compact(true).ok());
}

}  // namespace

TEST_CASE("scan returns the matching streams' entries in global time order, forward") {
  int strategy = GENERATE(0, 1, 2);
  TempDir dir;
  auto store = open_store(dir);
  push_interleaved(*store, strategy);

  auto seen =
      scan_all(*store, "fake",
               scan_request({{"env", MatchType::equal, "prod"}}, 0, 100, Direction::forward));
  CHECK(seen == std::vector<std::string>{
                    R"({app="api", env="prod"} 10 api one)",
                    R"({app="web", env="prod"} 20 web two)",
                    R"({app="api", env="prod"} 30 api three)",
                    R"({app="web", env="prod"} 40 web four)",
                    R"({app="web", env="prod"} 45 web late error)",
                    R"({app="api", env="prod"} 50 api five)",
                });
}

TEST_CASE("scan backward returns the newest entries first across streams") {
  int strategy = GENERATE(0, 1, 2);
  TempDir dir;
  auto store = open_store(dir);
  push_interleaved(*store, strategy);

  auto seen =
      scan_all(*store, "fake",
               scan_request({{"app", MatchType::equal, "api"}}, 0, 100, Direction::backward));
  CHECK(seen == std::vector<std::string>{
                    R"({app="api", env="dev"} 60 dev late)",
                    R"({app="api", env="prod"} 50 api five)",
                    R"({app="api", env="dev"} 35 dev api)",
                    R"({app="api", env="prod"} 30 api three)",
                    R"({app="api", env="prod"} 10 api one)",
                });
}

TEST_CASE("scan stops as soon as the visitor returns false, across streams") {
  int strategy = GENERATE(0, 1, 2);
  TempDir dir;
  auto store = open_store(dir);
  push_interleaved(*store, strategy);

  auto forward = scan_all(*store, "fake", scan_request({}, 0, 100, Direction::forward), 3);
  CHECK(forward == std::vector<std::string>{
                       R"({app="api", env="prod"} 10 api one)",
                       R"({app="web", env="prod"} 20 web two)",
                       R"({app="api", env="prod"} 30 api three)",
                   });
  auto backward = scan_all(*store, "fake", scan_request({}, 0, 100, Direction::backward), 2);
  CHECK(backward == std::vector<std::string>{
                        R"({app="api", env="dev"} 60 dev late)",
                        R"({app="api", env="prod"} 50 api five)",
                    });
}

TEST_CASE("scan range is half-open: start included, end excluded") {
  int strategy = GENERATE(0, 1, 2);
  TempDir dir;
  auto store = open_store(dir);
  push_interleaved(*store, strategy);

  auto seen = scan_all(*store, "fake", scan_request({}, 20, 45, Direction::forward));
  CHECK(seen == std::vector<std::string>{
                    R"({app="web", env="prod"} 20 web two)",
                    R"({app="api", env="prod"} 30 api three)",
                    R"({app="api", env="dev"} 35 dev api)",
                    R"({app="web", env="prod"} 40 web four)",
                });
  CHECK(scan_all(*store, "fake", scan_request({}, 45, 45, Direction::forward)).empty());
}

TEST_CASE("scan evaluates regex and negative matchers") {
  TempDir dir;
  auto store = open_store(dir);
  push_interleaved(*store);

  auto regex = scan_all(
      *store, "fake",
      scan_request({{"app", MatchType::regex, "w.b"}, {"env", MatchType::not_equal, "dev"}}, 0, 100,
                   Direction::forward));
  CHECK(regex == std::vector<std::string>{
                     R"({app="web", env="prod"} 20 web two)",
                     R"({app="web", env="prod"} 40 web four)",
                     R"({app="web", env="prod"} 45 web late error)",
                 });
  auto not_regex =
      scan_all(*store, "fake",
               scan_request({{"env", MatchType::not_regex, "prod"}}, 0, 100, Direction::forward));
  CHECK(not_regex == std::vector<std::string>{
                         R"({app="api", env="dev"} 35 dev api)",
                         R"({app="api", env="dev"} 60 dev late)",
                     });
}

TEST_CASE("scan keeps only lines holding every required literal") {
  int strategy = GENERATE(0, 1, 2);
  TempDir dir;
  auto store = open_store(dir);
  push_interleaved(*store, strategy);

  auto scan = scan_request({}, 0, 100, Direction::forward);
  scan.required_literals = {"late", "error"};
  CHECK(scan_all(*store, "fake", scan) ==
        std::vector<std::string>{R"({app="web", env="prod"} 45 web late error)"});
  scan.required_literals = {"LATE"};
  CHECK(scan_all(*store, "fake", scan).empty());
}

TEST_CASE("scan gives entries with one timestamp in arrival order per stream") {
  const int compactions = GENERATE(0, 1, 2);
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->push(request({stream({{"app", "api"}}, {entry(5, "first"), entry(5, "second")})}))
              .ok());
  // A chunk compacted from older pushes still sorts before a head block written after them.
  if (compactions >= 1) REQUIRE(store->compact(true).ok());
  REQUIRE(store->push(request({stream({{"app", "api"}}, {entry(5, "third")})})).ok());
  if (compactions >= 2) REQUIRE(store->compact(true).ok());

  CHECK(scan_all(*store, "fake", scan_request({}, 0, 10, Direction::forward)) ==
        std::vector<std::string>{R"({app="api"} 5 first)", R"({app="api"} 5 second)",
                                 R"({app="api"} 5 third)"});
  CHECK(scan_all(*store, "fake", scan_request({}, 0, 10, Direction::backward)) ==
        std::vector<std::string>{R"({app="api"} 5 third)", R"({app="api"} 5 second)",
                                 R"({app="api"} 5 first)"});
}

TEST_CASE("scan returns structured metadata and lines byte for byte") {
  TempDir dir;
  auto store = open_store(dir);
  std::string binary("tab\there\0nul", 12);
  REQUIRE(store
              ->push(request(
                  {stream({{"app", "api"}},
                          {entry(1, binary, {{"trace_id", "abc"}, {"span", "1"}}), entry(2, "")})}))
              .ok());

  std::vector<LogEntry> seen;
  auto status = store->scan("fake", scan_request({}, 0, 10, Direction::forward),
                            [&](const Labels&, const LogEntry& e) {
                              seen.push_back(e);
                              return true;
                            });
  REQUIRE(status.ok());
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].line == binary);
  CHECK(seen[0].metadata == Labels{{"span", "1"}, {"trace_id", "abc"}});
  CHECK(seen[1].line.empty());
  CHECK(seen[1].metadata.empty());
}

TEST_CASE("scan sees only the requested tenant's streams") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->push(request({stream({{"app", "api"}}, {entry(1, "tenant a")})}, "a")).ok());
  REQUIRE(store->push(request({stream({{"app", "api"}}, {entry(2, "tenant b")})}, "b")).ok());

  CHECK(scan_all(*store, "a", scan_request({}, 0, 10, Direction::forward)) ==
        std::vector<std::string>{R"({app="api"} 1 tenant a)"});
  CHECK(scan_all(*store, "b", scan_request({}, 0, 10, Direction::forward)) ==
        std::vector<std::string>{R"({app="api"} 2 tenant b)"});
  CHECK(scan_all(*store, "fake", scan_request({}, 0, 10, Direction::forward)).empty());
}

TEST_CASE("a reopened store finds the streams and entries of the previous one") {
  TempDir dir;
  {
    auto store = open_store(dir);
    push_interleaved(*store);
  }
  auto store = open_store(dir);
  auto seen = scan_all(
      *store, "fake", scan_request({{"env", MatchType::equal, "dev"}}, 0, 100, Direction::forward));
  CHECK(seen == std::vector<std::string>{R"({app="api", env="dev"} 35 dev api)",
                                         R"({app="api", env="dev"} 60 dev late)"});
  REQUIRE(
      store->push(request({stream({{"app", "api"}, {"env", "dev"}}, {entry(70, "again")})})).ok());
  CHECK(scan_all(*store, "fake",
                 scan_request({{"env", MatchType::equal, "dev"}}, 0, 100, Direction::forward))
            .size() == 3);
}

}  // namespace lognurse::local_store::test

namespace lognurse::local_store::test {

TEST_CASE("scan gives up with store.query_timeout when SQL runs past the query timeout") {
  TempDir dir;
  auto config = parse_store_config(as_pushed({{"path", dir.file("test.db")}}), "").value();
  config.limits.query_timeout_ns = 1;
  LocalStore store(config, nullptr);
  std::vector<LogEntry> entries;
  for (int i = 0; i < 5000; ++i) entries.push_back(entry(i, "line " + std::to_string(i)));
  REQUIRE(store.push(request({stream({{"app", "api"}}, entries)})).ok());

  auto scan = scan_request({}, 0, 10000, Direction::forward);
  scan.required_literals = {"absent"};
  auto status = store.scan("fake", scan, [](const Labels&, const LogEntry&) { return true; });
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == "store.query_timeout");
  CHECK(status.error().kind == ErrorKind::timeout);

  // The connection goes back to the pool without the deadline.
  CHECK(store.labels("fake", range(0, 10000)).value() == std::vector<std::string>{"app"});
  CHECK(store.metrics("fake", range(0, 10000)).value().lines == 5000);
}

}  // namespace lognurse::local_store::test
