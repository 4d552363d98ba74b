// Pushes: what is stored, what is counted, and that a refused push stores nothing.

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {

TEST_CASE("push reports the entries and streams it stored") {
  TempDir dir;
  auto store = open_store(dir);
  auto pushed = store->push(request({
      stream({{"app", "api"}}, {entry(1, "a"), entry(2, "b")}),
      stream({{"app", "web"}}, {entry(3, "c")}),
      stream({{"app", "idle"}}, {}),
  }));
  REQUIRE(pushed.ok());
  CHECK(pushed.value().entries_accepted == 3);
  CHECK(pushed.value().streams == 2);
  CHECK(store->health().detail == "2 streams, 3 entries in " + dir.file("test.db"));
}

TEST_CASE("push stores an entry equal to a stored one only once") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(
      store->push(request({stream({{"app", "api"}}, {entry(1, "same"), entry(1, "same")})})).ok());
  auto again = store->push(
      request({stream({{"app", "api"}}, {entry(1, "same"), entry(1, "other"), entry(2, "same")})}));
  REQUIRE(again.ok());
  CHECK(again.value().entries_accepted == 2);

  CHECK(scan_all(*store, "fake", scan_request({}, 0, 10, Direction::forward)) ==
        std::vector<std::string>{R"({app="api"} 1 same)", R"({app="api"} 1 other)",
                                 R"({app="api"} 2 same)"});
}

TEST_CASE("push treats the same entry in another stream or tenant as distinct") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store
              ->push(request({stream({{"app", "api"}}, {entry(1, "line")}),
                              stream({{"app", "web"}}, {entry(1, "line")})}))
              .ok());
  REQUIRE(store->push(request({stream({{"app", "api"}}, {entry(1, "line")})}, "other")).ok());
  CHECK(scan_all(*store, "fake", scan_request({}, 0, 10, Direction::forward)).size() == 2);
  CHECK(scan_all(*store, "other", scan_request({}, 0, 10, Direction::forward)).size() == 1);
}

TEST_CASE("push identifies a stream by its label set whatever the label order") {
  TempDir dir;
  auto store = open_store(dir);
  auto pushed = store->push(request({stream({{"b", "2"}, {"a", "1"}}, {entry(1, "x")}),
                                     stream({{"a", "1"}, {"b", "2"}}, {entry(2, "y")})}));
  REQUIRE(pushed.ok());
  CHECK(pushed.value().streams == 1);
  CHECK(store->health().detail == "1 streams, 2 entries in " + dir.file("test.db"));
}

TEST_CASE("a refused push stores nothing, not even its valid streams") {
  TempDir dir;
  auto store = open_store(dir, {{"limits", {{"max_line_size", 8}}}});
  auto refused = store->push(request({
      stream({{"app", "api"}}, {entry(1, "fine"), entry(2, "also ok")}),
      stream({{"app", "web"}}, {entry(3, "ok"), entry(4, "far too long")}),
  }));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.line_too_long");
  CHECK(refused.error().message ==
        "streams[1].values[1]: max entry size '8' bytes exceeded for stream '{app=\"web\"}' "
        "while adding an entry with length '12' bytes; split the line or raise "
        "limits.max_line_size");
  CHECK(store->health().detail == "0 streams, 0 entries in " + dir.file("test.db"));
  CHECK(scan_all(*store, "fake", scan_request({}, 0, 10, Direction::forward)).empty());
}

TEST_CASE("push accepts old entries by default and refuses them when configured") {
  TempDir dir;
  auto store = open_store(dir);
  LogEntry ancient{86'400LL * kNanosPerSecond, "1970", {}};
  CHECK(store->push(request({stream({{"app", "api"}}, {ancient})})).ok());

  TempDir strict_dir;
  auto strict = open_store(strict_dir, {{"limits", {{"reject_old_samples", true}}}});
  auto refused = strict->push(request({stream({{"app", "api"}}, {ancient})}));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.too_old");
  CHECK(refused.error().message.rfind(
            "streams[0].values[0]: entry for stream '{app=\"api\"}' has timestamp too old: "
            "1970-01-02T00:00:00",
            0) == 0);
}

TEST_CASE("push refuses entries too far in the future unless the check is off") {
  TempDir dir;
  auto store = open_store(dir);
  LogEntry future{now_ns() + 3600LL * kNanosPerSecond, "from the future", {}};
  auto refused = store->push(request({stream({{"app", "api"}}, {future})}));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.too_far_in_future");

  TempDir lax_dir;
  auto lax = open_store(lax_dir, {{"limits", {{"creation_grace_period", "0s"}}}});
  CHECK(lax->push(request({stream({{"app", "api"}}, {future})})).ok());
}

TEST_CASE("push of a request without entries stores nothing and succeeds") {
  TempDir dir;
  auto store = open_store(dir);
  auto pushed = store->push(request({}));
  REQUIRE(pushed.ok());
  CHECK(pushed.value().entries_accepted == 0);
  CHECK(pushed.value().streams == 0);
}

}  // namespace lognurse::local_store::test
