// Sharded queries: a metric query split by streams across threads gives
// exactly what one scan gives, within its tenant and its limits.

#include <catch2/catch.hpp>

#include <random>

#include "test_support.hpp"
#include "exact_result.hpp"

namespace lognurse::local_store::test {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

/// A store on dir/test.db evaluating on `parallelism` threads, sharding any scan.
std::unique_ptr<LocalStore> sharding_store(const TempDir& dir, std::size_t parallelism,
                                           std::size_t max_series = 500) {
  auto config = parse_store_config({{"path", dir.file("test.db")}}, "").value();
  config.query_parallelism = parallelism;
  config.query_shard_min_bytes = 1;
  config.limits.max_query_series = max_series;
  auto store = std::make_unique<LocalStore>(config, nullptr);
  REQUIRE(store->connect().ok());
  return store;
}

/// Five streams of logfmt lines in `tenant`, with timestamps shared across streams and
/// within one, values whose float sums depend on their order, and a line of another
/// format now and then. With `compact`, the first half goes into chunks before the rest
/// is pushed, so that a stream has chunks and head blocks.
void fill(LocalStore& store, const std::string& tenant, unsigned seed, bool compact) {
  const char* levels[] = {"info", "warn", "error", "debug"};
  const char* values[] = {"0.1", "0.2", "1e16", "-1e16", "3.25", "-0.7"};
  std::mt19937 random(seed);
  for (int half = 0; half < 2; ++half) {
    std::vector<LogStream> streams;
    for (int k = 0; k < 5; ++k) {
      LogStream stream{{{"app", "shop"}, {"pod", "p" + std::to_string(k)},
                        {"zone", k % 2 == 0 ? "a" : "b"}},
                       {}};
      for (int i = 0; i < 400; ++i) {
        const std::int64_t ts = (half * 400 + i) / 2 * kSecond / 2;
        std::string line = "level=" + std::string(levels[random() % 4]) +
                           " v=" + values[random() % 6] + " n=" + std::to_string(random() % 3);
        if (random() % 17 == 0) line = "{\"level\":\"info\"} plain text";
        stream.entries.push_back(entry(ts, line));
      }
      streams.push_back(std::move(stream));
    }
    REQUIRE(store.push(request(std::move(streams), tenant)).ok());
    if (compact && half == 0) REQUIRE(store.compact(true).ok());
  }
}

/// The result written out exactly (tests/support/exact_result.hpp).
std::string exact(const Result<QueryResult>& result) {
  return lognurse::test::exact_result(result, kBase);
}

/// An exact result without its line of statistics ("scanned N lines, ...").
std::string without_stats(std::string exact_text) {
  const std::size_t at = exact_text.find("\nscanned ");
  if (at != std::string::npos) {
    exact_text.erase(at + 1, exact_text.find('\n', at + 1) - at);
  }
  return exact_text;
}

LogQuery metric_query(const std::string& logql, const std::string& tenant = kDefaultTenant) {
  LogQuery query;
  query.tenant = tenant;
  query.logql = logql;
  query.range = range(20 * kSecond, 200 * kSecond);
  query.step_ns = 10 * kSecond;
  return query;
}

const char* const kQueries[] = {
    "sum by (level) (count_over_time({app=\"shop\"} | logfmt [1m]))",
    "sum without (pod, v, n) (rate({app=\"shop\"} | logfmt [30s] offset 15s))",
    "count_over_time({app=\"shop\"} [45s])",
    "sum by (zone) (bytes_over_time({app=\"shop\"} |= \"warn\" [1m]))",
    "sum by (level) (sum_over_time({app=\"shop\"} | logfmt | unwrap v | __error__=\"\" [1m]))",
    "avg by (zone) (avg_over_time({app=\"shop\"} | logfmt | unwrap v | __error__=\"\" [40s]))",
    "max by (level) (max_over_time({app=\"shop\"} | logfmt | unwrap v | __error__=\"\" [1m]))",
    "quantile_over_time(0.5, {app=\"shop\"} | logfmt | unwrap v | __error__=\"\" [1m]) by (zone)",
    "topk(2, sum by (pod) (rate({app=\"shop\"}[1m])))",
    "sum by (level) (count_over_time({app=\"shop\", zone=\"b\"} | logfmt [1m]))",
    "sum(count_over_time({app=\"shop\", pod=\"p3\"} [1m]))",
};

}  // namespace

TEST_CASE("a sharded query gives exactly what one scan gives, from chunks and head blocks") {
  const bool compact = GENERATE(false, true);
  TempDir one_dir;
  TempDir sharded_dir;
  auto one = sharding_store(one_dir, 1);
  auto sharded = sharding_store(sharded_dir, 2);
  fill(*one, kDefaultTenant, 11, compact);
  fill(*sharded, kDefaultTenant, 11, compact);
  for (const char* text : kQueries) {
    INFO(text << (compact ? ", compacted" : ", head blocks"));
    const std::string expected = exact(one->query(metric_query(text)));
    CHECK(exact(sharded->query(metric_query(text))) == expected);
    CHECK(expected.rfind("error", 0) != 0);
  }
  // Streams are counted once each, however their entries interleave and whichever shard
  // reads them: five streams, or the two of zone b.
  for (auto* store : {one.get(), sharded.get()}) {
    auto all = store->query(metric_query(kQueries[0]));
    REQUIRE(all.ok());
    CHECK(all.value().stats.streams_matched == 5);
    auto zone_b = store->query(metric_query(kQueries[9]));
    REQUIRE(zone_b.ok());
    CHECK(zone_b.value().stats.streams_matched == 2);
  }
}

TEST_CASE("a sharded query reads its own tenant only") {
  TempDir one_dir;
  TempDir sharded_dir;
  auto one = sharding_store(one_dir, 1);
  auto sharded = sharding_store(sharded_dir, 2);
  for (auto* store : {one.get(), sharded.get()}) {
    fill(*store, "a", 1, true);
    fill(*store, "b", 2, false);
  }
  for (const char* tenant : {"a", "b", "c"}) {
    for (const char* text : kQueries) {
      INFO(tenant << ": " << text);
      CHECK(exact(sharded->query(metric_query(text, tenant))) ==
            exact(one->query(metric_query(text, tenant))));
    }
  }
  CHECK(exact(sharded->query(metric_query(kQueries[0], "a"))) !=
        exact(sharded->query(metric_query(kQueries[0], "b"))));

  // A shard of tenant a's streams, scanned as tenant b, reads nothing of a's.
  logql::ScanRequest scan = scan_request({{"app", logql::MatchType::equal, "shop"}}, 0,
                                         200 * kSecond, Direction::forward);
  auto shards = sharded->plan_shards("a", scan, 2);
  REQUIRE(shards.ok());
  REQUIRE(shards.value().size() == 2);
  std::size_t seen_b = 0;
  std::size_t seen_a = 0;
  for (const auto& shard : shards.value()) {
    REQUIRE(sharded
                ->scan_shard("b", scan, shard,
                             [&](std::int64_t, const Labels&, const LogEntry&) {
                               ++seen_b;
                               return true;
                             })
                .ok());
    REQUIRE(sharded
                ->scan_shard("a", scan, shard,
                             [&](std::int64_t, const Labels&, const LogEntry&) {
                               ++seen_a;
                               return true;
                             })
                .ok());
  }
  CHECK(seen_b == 0);
  // Every entry of a's once (pairs of equal lines at one timestamp are stored once).
  CHECK(seen_a == scan_all(*sharded, "a", scan).size());
  CHECK(seen_a > 3900);
}

TEST_CASE("shards split the streams by bytes of lines, heaviest first") {
  TempDir dir;
  auto store = sharding_store(dir, 2);
  // Lines of 10, 40, 20 and 30 bytes, 100 of each per stream.
  std::vector<LogStream> streams;
  const std::size_t sizes[] = {10, 40, 20, 30};
  for (std::size_t k = 0; k < 4; ++k) {
    LogStream stream{{{"app", "w"}, {"k", std::to_string(k)}}, {}};
    for (int i = 0; i < 100; ++i) stream.entries.push_back(entry(i, std::string(sizes[k], 'x')));
    streams.push_back(std::move(stream));
  }
  REQUIRE(store->push(request(std::move(streams))).ok());
  REQUIRE(store->compact(true).ok());
  const auto ids = [&](const std::vector<logql::ScanShard>& shards) {
    std::vector<std::vector<std::int64_t>> out;
    for (const auto& shard : shards) out.push_back(shard.streams);
    return out;
  };

  logql::ScanRequest scan = scan_request({}, 0, 1000, Direction::forward);
  // Stream ids 1 to 4 in push order: 4000 bytes (id 2) and 1000 (id 1) against 3000 (id 4)
  // and 2000 (id 3).
  auto two = store->plan_shards(kDefaultTenant, scan, 2);
  REQUIRE(two.ok());
  CHECK(ids(two.value()) == std::vector<std::vector<std::int64_t>>{{1, 2}, {3, 4}});
  auto four = store->plan_shards(kDefaultTenant, scan, 8);
  REQUIRE(four.ok());
  CHECK(ids(four.value()) == std::vector<std::vector<std::int64_t>>{{2}, {4}, {3}, {1}});

  // One stream, or a scan under query_shard_min_size, is not split.
  scan.matchers = {{"k", logql::MatchType::equal, "1"}};
  CHECK(store->plan_shards(kDefaultTenant, scan, 2).value().empty());
  TempDir small_dir;
  auto config = parse_store_config({{"path", small_dir.file("test.db")},
                                    {"query_shard_min_size", "10KB"}},
                                   "")
                    .value();
  LocalStore small(config, nullptr);
  REQUIRE(small.push(request({stream({{"app", "w"}, {"k", "0"}}, {entry(1, "a")}),
                              stream({{"app", "w"}, {"k", "1"}}, {entry(1, "b")})}))
              .ok());
  CHECK(small.plan_shards(kDefaultTenant, scan_request({}, 0, 10, Direction::forward), 2)
            .value()
            .empty());
}

TEST_CASE("a sharded query fails on the series limit as one scan does") {
  TempDir one_dir;
  TempDir sharded_dir;
  auto one = sharding_store(one_dir, 1, 3);
  auto sharded = sharding_store(sharded_dir, 2, 3);
  fill(*one, kDefaultTenant, 5, true);
  fill(*sharded, kDefaultTenant, 5, true);
  const char* text = "sum by (pod, level) (count_over_time({app=\"shop\"} | logfmt [1m]))";
  const auto expected = one->query(metric_query(text));
  REQUIRE_FALSE(expected.ok());
  CHECK(expected.error().code == "logql.max_series");
  CHECK(exact(sharded->query(metric_query(text))) == exact(expected));
}

TEST_CASE("a metric query of |= filters alone reads line sizes and gives what reading lines "
          "gives") {
  // Each query's pipeline is only |= filters, which the store checks itself, so the
  // evaluator scans entries' sizes without their lines; its twin spells each filter as a
  // regular expression of the same literal, which makes the evaluator read every line.
  const std::pair<const char*, const char*> twins[] = {
      {"count_over_time({app=\"shop\"} |= \"warn\" [1m])",
       "count_over_time({app=\"shop\"} |~ \"warn\" [1m])"},
      {"sum by (zone) (rate({app=\"shop\"} |= \"level=\" |= \"v=1e16\" [30s]))",
       "sum by (zone) (rate({app=\"shop\"} |~ \"level=\" |~ \"v=1e16\" [30s]))"},
      {"bytes_over_time({app=\"shop\"} |= \"n=2\" [45s])",
       "bytes_over_time({app=\"shop\"} |~ \"n=2\" [45s])"},
      {"bytes_rate({app=\"shop\", zone=\"b\"} |= \"plain\" [1m] offset 20s)",
       "bytes_rate({app=\"shop\", zone=\"b\"} |~ \"plain\" [1m] offset 20s)"},
      {"absent_over_time({app=\"shop\"} |= \"level=none\" [20s])",
       "absent_over_time({app=\"shop\"} |~ \"level=none\" [20s])"},
      {"count_over_time({app=\"shop\"} |= \"\" [1m])", "count_over_time({app=\"shop\"} |~ \"\" [1m])"},
      // Structured metadata is part of each entry's series, with or without its line.
      {"count_over_time({app=\"traced\"} |= \"warn\" [1m])",
       "count_over_time({app=\"traced\"} |~ \"warn\" [1m])"},
  };
  const bool compact = GENERATE(false, true);
  for (const std::size_t parallelism : {std::size_t{1}, std::size_t{2}}) {
    TempDir dir;
    auto store = sharding_store(dir, parallelism);
    fill(*store, kDefaultTenant, 5, compact);
    LogStream traced{{{"app", "traced"}}, {}};
    for (int i = 0; i < 300; ++i) {
      traced.entries.push_back(entry(i * kSecond / 2, i % 3 == 0 ? "warn: slow" : "ok",
                                     {{"trace_id", "t" + std::to_string(i % 4)}}));
    }
    REQUIRE(store->push(request({traced})).ok());
    for (const auto& [sizes, lines] : twins) {
      INFO(sizes << " on " << parallelism << " threads" << (compact ? ", compacted" : ""));
      const auto by_sizes = store->query(metric_query(sizes));
      const auto by_lines = store->query(metric_query(lines));
      REQUIRE(by_sizes.ok());
      REQUIRE(by_lines.ok());
      // Their statistics differ: the store hands the regular expression every line.
      CHECK(without_stats(exact(by_sizes)) == without_stats(exact(by_lines)));
    }
    // The twins are no empty answers that agree by accident.
    const auto counted = store->query(metric_query(twins[0].first));
    REQUIRE(counted.ok());
    CHECK(counted.value().stats.lines_scanned > 100);
    const auto traced_series = exact(store->query(metric_query(twins[6].first)));
    CHECK(traced_series.find("trace_id") != std::string::npos);
  }
}

}  // namespace lognurse::local_store::test
