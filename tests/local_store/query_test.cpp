// LogQL queries and searches run through the evaluator against the store.

#include <catch2/catch.hpp>
#include <map>

#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

using StreamLines = std::map<std::string, std::vector<std::string>>;

void push_fixture(LocalStore& store) {
  REQUIRE(
      store
          .push(request({
              stream({{"service_name", "api"}, {"env", "prod"}},
                     {entry(10, "GET /a 200"), entry(30, "GET /b 500 error"),
                      entry(50, "GET /c 200")}),
              stream({{"service_name", "web"}, {"env", "prod"}},
                     {entry(20, "render ok"), entry(40, "render error"), entry(60, "render ok")}),
          }))
          .ok());
  REQUIRE(
      store.push(request({stream({{"service_name", "api"}}, {entry(15, "other tenant")})}, "other"))
          .ok());
}

LogQuery log_query(std::string logql, std::size_t limit, Direction direction,
                   std::string tenant = kDefaultTenant) {
  LogQuery query;
  query.tenant = std::move(tenant);
  query.logql = std::move(logql);
  query.range = range(0, 100);
  query.limit = limit;
  query.direction = direction;
  return query;
}

/// Stream labels → its lines in result order.
StreamLines lines_by_stream(const QueryResult& result) {
  StreamLines lines;
  for (const auto& stream : result.streams) {
    auto& target = lines[labels_to_string(stream.labels)];
    for (const auto& entry : stream.entries) target.push_back(entry.line);
  }
  return lines;
}

}  // namespace

TEST_CASE("query selects streams and returns entries in the requested order", "[logql]") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  auto forward = store->query(log_query(R"({env="prod"})", 100, Direction::forward));
  REQUIRE(forward.ok());
  CHECK(forward.value().result_type == "streams");
  CHECK(
      lines_by_stream(forward.value()) ==
      StreamLines{
          {R"({env="prod", service_name="api"})", {"GET /a 200", "GET /b 500 error", "GET /c 200"}},
          {R"({env="prod", service_name="web"})", {"render ok", "render error", "render ok"}}});

  auto backward = store->query(log_query(R"({service_name="web"})", 100, Direction::backward));
  REQUIRE(backward.ok());
  CHECK(lines_by_stream(backward.value()) ==
        StreamLines{
            {R"({env="prod", service_name="web"})", {"render ok", "render error", "render ok"}}});
  REQUIRE(backward.value().streams.size() == 1);
  CHECK(backward.value().streams[0].entries.front().timestamp_ns == kBase + 60);
}

TEST_CASE("query limit applies across streams in time order", "[logql]") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  auto newest = store->query(log_query(R"({env="prod"})", 3, Direction::backward));
  REQUIRE(newest.ok());
  CHECK(lines_by_stream(newest.value()) ==
        StreamLines{{R"({env="prod", service_name="api"})", {"GET /c 200"}},
                    {R"({env="prod", service_name="web"})", {"render ok", "render error"}}});

  auto oldest = store->query(log_query(R"({env="prod"})", 2, Direction::forward));
  REQUIRE(oldest.ok());
  CHECK(lines_by_stream(oldest.value()) ==
        StreamLines{{R"({env="prod", service_name="api"})", {"GET /a 200"}},
                    {R"({env="prod", service_name="web"})", {"render ok"}}});
}

TEST_CASE("query applies line filters", "[logql]") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  auto errors = store->query(log_query(R"({env=~"pr.*"} |= "error")", 100, Direction::forward));
  REQUIRE(errors.ok());
  CHECK(lines_by_stream(errors.value()) ==
        StreamLines{{R"({env="prod", service_name="api"})", {"GET /b 500 error"}},
                    {R"({env="prod", service_name="web"})", {"render error"}}});

  auto not_ok = store->query(
      log_query(R"({service_name="web"} != "ok" |~ "rend.r")", 100, Direction::forward));
  REQUIRE(not_ok.ok());
  CHECK(lines_by_stream(not_ok.value()) ==
        StreamLines{{R"({env="prod", service_name="web"})", {"render error"}}});
}

TEST_CASE("query sees only its tenant", "[logql]") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  auto other = store->query(log_query(R"({service_name="api"})", 100, Direction::forward, "other"));
  REQUIRE(other.ok());
  CHECK(lines_by_stream(other.value()) ==
        StreamLines{{R"({service_name="api"})", {"other tenant"}}});
  auto nobody =
      store->query(log_query(R"({service_name="api"})", 100, Direction::forward, "nobody"));
  REQUIRE(nobody.ok());
  CHECK(nobody.value().streams.empty());
}

TEST_CASE("query refuses a limit above max_entries_limit_per_query") {
  TempDir dir;
  auto store = open_store(dir, {{"limits", {{"max_entries_limit_per_query", 10}}}});
  auto refused = store->query(log_query(R"({env="prod"})", 11, Direction::forward));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.max_entries_limit");
  CHECK(refused.error().message ==
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (11 > 10); "
        "lower the limit or narrow the query");
}

TEST_CASE("every read refuses a time range longer than max_query_length, in Loki's words") {
  TempDir dir;
  auto store = open_store(dir, {{"limits", {{"max_query_length", "1h"}}}});
  push_fixture(*store);
  const std::int64_t hour = 3600 * kNanosPerSecond;
  const TimeRange too_long{kBase, kBase + hour + 1'000'000'000};
  const std::string message =
      "the query time range exceeds the limit (query length: 1h0m1s, limit: 1h); narrow start "
      "and end, or raise limits.max_query_length";
  auto refused = [&](const auto& result) {
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "store.query_too_long");
    CHECK(result.error().kind == ErrorKind::limit_exceeded);
    CHECK(result.error().message == message);
  };

  LogQuery query = log_query(R"({env="prod"})", 10, Direction::forward);
  query.range = too_long;
  refused(store->query(query));
  refused(store->labels(kDefaultTenant, too_long));
  refused(store->label_values(kDefaultTenant, "env", too_long));
  refused(store->series(kDefaultTenant, {R"({env="prod"})"}, too_long));
  refused(store->stats(kDefaultTenant, R"({env="prod"})", too_long));
  refused(store->patterns(kDefaultTenant, R"({env="prod"})", too_long, 0));
  refused(store->detected_fields(kDefaultTenant, R"({env="prod"})", too_long, 100));
  refused(store->metrics(kDefaultTenant, too_long));

  // Exactly the limit is allowed, and a metric query's range window is not counted.
  query.range = {kBase, kBase + hour};
  CHECK(store->query(query).ok());
  query.logql = R"(sum(count_over_time({env="prod"}[1h])))";
  CHECK(store->query(query).ok());
}

TEST_CASE("max_query_length defaults to Loki's 30d1h, and 0s turns it off") {
  TempDir dir;
  const std::int64_t day = 24 * 3600 * kNanosPerSecond;
  auto store = open_store(dir);
  LogQuery query = log_query(R"({env="prod"})", 10, Direction::forward);
  query.range = {kBase, kBase + 30 * day + day / 24};
  CHECK(store->query(query).ok());
  query.range.end_ns += 1;
  auto refused = store->query(query);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message ==
        "the query time range exceeds the limit (query length: 721h0m0.000000001s, limit: 30d1h); "
        "narrow start and end, or raise limits.max_query_length");

  TempDir other;
  auto unlimited = open_store(other, {{"limits", {{"max_query_length", "0s"}}}});
  query.range = {0, kBase};
  CHECK(unlimited->query(query).ok());
}

TEST_CASE("query passes a LogQL parse error through", "[logql]") {
  TempDir dir;
  auto store = open_store(dir);
  auto refused = store->query(log_query(R"({env="prod")", 10, Direction::forward));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "logql.parse_error");
}

TEST_CASE("search compiles filters to LogQL and returns the matching entries", "[logql]") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  SearchRequest search;
  search.filters.service = "api";
  search.filters.text = "error";
  search.range = range(0, 100);
  search.direction = Direction::forward;
  auto found = store->search(search);
  REQUIRE(found.ok());
  CHECK(found.value().logql == logql::compile_search(search.filters).value());
  CHECK(lines_by_stream(found.value().result) ==
        StreamLines{{R"({env="prod", service_name="api"})", {"GET /b 500 error"}}});
}

}  // namespace lognurse::local_store::test
