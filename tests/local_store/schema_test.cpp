// Schema creation, reopening and refusal of newer schemas.

#include "schema.hpp"

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
                                         "' has schema version 99 but this build reads up to 1; "
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

TEST_CASE("per-stream scans read the stream-time index without sorting") {
  TempDir dir;
  auto store = open_store(dir);
  auto connection = Connection::open(dir.file("test.db"), false);
  auto plan = connection.value()->prepare(
      "EXPLAIN QUERY PLAN SELECT ts, line, metadata FROM entries WHERE stream_id = 1 "
      "AND ts >= 0 AND ts < 10 ORDER BY ts DESC, id DESC");
  REQUIRE(plan.ok());
  std::string details;
  while (plan.value().step().value()) details += std::string(plan.value().column_bytes(3)) + ";";
  CHECK(details.find("entries_by_stream_time") != std::string::npos);
  CHECK(details.find("TEMP B-TREE") == std::string::npos);

  auto global = connection.value()->prepare(
      "EXPLAIN QUERY PLAN SELECT stream_id, ts, line, metadata FROM entries INDEXED BY "
      "entries_by_time WHERE ts >= 0 AND ts < 10 ORDER BY ts ASC, stream_id ASC, id ASC");
  REQUIRE(global.ok());
  details.clear();
  while (global.value().step().value()) details += std::string(global.value().column_bytes(3));
  CHECK(details.find("TEMP B-TREE") == std::string::npos);
}

}  // namespace lognurse::local_store::test
