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
