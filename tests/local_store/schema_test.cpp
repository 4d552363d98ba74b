// Schema creation, reopening and refusal of newer schemas.

#include "schema.hpp"

#include <unistd.h>

#include <memory>

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {

TEST_CASE("connect creates the schema once and is idempotent") {
  TempDir dir;
  {
    auto store = open_store(dir);
    CHECK(store->connect().ok());
    CHECK(store->connect().ok());
  }
  auto connection = Connection::open(dir.file("test.db"), false);
  REQUIRE(connection.ok());
  auto version = connection.value()->prepare("SELECT version FROM schema_version");
  REQUIRE(version.ok());
  REQUIRE(version.value().step().value());
  CHECK(version.value().column_int(0) == kSchemaVersion);
  CHECK_FALSE(version.value().step().value());

  auto mode = connection.value()->prepare("PRAGMA journal_mode");
  REQUIRE(mode.value().step().value());
  CHECK(mode.value().column_bytes(0) == "wal");
  CHECK(migrate(*connection.value()).value() == kSchemaVersion);
}

TEST_CASE("connect creates a missing directory for the database") {
  TempDir dir;
  auto store = open_store(dir, {{"path", dir.file("nested/deeper/logs.db")}});
  CHECK(store->health().ready);
}

TEST_CASE("connect refuses a database written by a newer schema") {
  TempDir dir;
  { auto store = open_store(dir); }
  {
    auto connection = Connection::open(dir.file("test.db"), false);
    REQUIRE(connection.value()->exec("UPDATE schema_version SET version = 99").ok());
  }
  auto config = parse_store_config({{"path", dir.file("test.db")}}, "");
  LocalStore store(config.value(), nullptr);
  auto connected = store.connect();
  REQUIRE_FALSE(connected.ok());
  CHECK(connected.error().code == "store.schema_too_new");
  CHECK(connected.error().message == "database '" + dir.file("test.db") +
                                         "' has schema version 99 but this build reads up to 2; "
                                         "run a newer lognurse");
  auto health = store.health();
  CHECK_FALSE(health.ready);
  CHECK(health.backend == "local_store");
  CHECK(health.detail.rfind("store.schema_too_new: ", 0) == 0);
  auto pushed = store.push(request({stream({{"app", "a"}}, {entry(1, "x")})}));
  CHECK(pushed.error().code == "store.schema_too_new");
}

TEST_CASE("a database that cannot be created makes calls fail with an error, not a throw") {
  TempDir dir;
  auto config = parse_store_config({{"path", "/proc/no/such/place.db"}}, "");
  LocalStore store(config.value(), nullptr);
  auto connected = store.connect();
  REQUIRE_FALSE(connected.ok());
  CHECK(connected.error().code == "store.cannot_open");
  CHECK(store.labels("fake", range(0, 1)).error().code == "store.cannot_open");
  CHECK_FALSE(store.health().ready);
}

TEST_CASE("listing a stream's chunks in a range reads the stream-time index") {
  TempDir dir;
  auto store = open_store(dir);
  auto connection = Connection::open(dir.file("test.db"), false);
  auto plan = connection.value()->prepare(
      "EXPLAIN QUERY PLAN SELECT id FROM chunks WHERE stream_id = 1 AND min_ns < 10 AND "
      "max_ns >= 0");
  REQUIRE(plan.ok());
  std::string details;
  while (plan.value().step().value()) details += std::string(plan.value().column_bytes(3)) + ";";
  CHECK(details.find("chunks_by_stream_time") != std::string::npos);
}


TEST_CASE("one store at a time opens a database file; the next says who holds it") {
  TempDir dir;
  auto config = parse_store_config(as_pushed({{"path", dir.file("logs.db")}}), "");
  REQUIRE(config.ok());
  auto first = std::make_unique<LocalStore>(config.value(), nullptr);
  REQUIRE(first->connect().ok());
  REQUIRE(first->push(request({stream({{"app", "a"}}, {entry(1, "kept")})})).ok());

  LocalStore second(config.value(), nullptr);
  auto refused = second.connect();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.in_use");
  CHECK(refused.error().message ==
        "the store " + dir.file("logs.db") + " is open in another process (pid " +
            std::to_string(::getpid()) +
            "); one process at a time may open it. Reach that process over HTTP instead (the "
            "Loki push and query API, /api/nurse/logs/, /mcp), stop it first, or give this "
            "command another --data-dir");
  CHECK(second.push(request({stream({{"app", "a"}}, {entry(2, "lost")})})).error().code ==
        "store.in_use");
  CHECK_FALSE(second.health().ready);

  // Once the first is gone, the file opens again, with what the first wrote.
  first.reset();
  LocalStore third(config.value(), nullptr);
  REQUIRE(third.connect().ok());
  CHECK(scan_all(third, "fake", scan_request({}, 0, 10, Direction::forward)) ==
        std::vector<std::string>{"{app=\"a\"} 1 kept"});
}

}  // namespace lognurse::local_store::test
