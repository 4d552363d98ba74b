#include "schema.hpp"

#include <string>
#include <vector>

namespace lognurse::local_store {
namespace {

constexpr const char* kVersion1 = R"sql(
CREATE TABLE schema_version (
  version INTEGER NOT NULL
);
CREATE TABLE streams (
  id          INTEGER PRIMARY KEY,
  tenant      TEXT    NOT NULL,
  labels_key  TEXT    NOT NULL,
  fingerprint INTEGER NOT NULL,
  service     TEXT    NOT NULL,
  min_ns      INTEGER NOT NULL,
  max_ns      INTEGER NOT NULL,
  created_ns  INTEGER NOT NULL,
  UNIQUE (tenant, labels_key)
);
CREATE TABLE label_postings (
  tenant    TEXT    NOT NULL,
  name      TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  PRIMARY KEY (tenant, name, value, stream_id)
) WITHOUT ROWID;
CREATE TABLE entries (
  id        INTEGER PRIMARY KEY,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  ts        INTEGER NOT NULL,
  line      BLOB    NOT NULL,
  metadata  TEXT,
  level     TEXT    NOT NULL
);
CREATE INDEX entries_by_stream_time ON entries (stream_id, ts);
CREATE INDEX entries_by_time ON entries (ts, stream_id);
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('entries', 0), ('bytes', 0);
INSERT INTO schema_version (version) VALUES (1);
)sql";

/// Step i upgrades version i to version i + 1; version 0 is an empty database.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> steps = {kVersion1};
  return steps;
}

Result<int> current_version(Connection& connection) {
  auto exists = connection.prepare(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  if (!exists) return exists.error();
  auto row = exists.value().step();
  if (!row) return row.error();
  if (exists.value().column_int(0) == 0) return 0;

  auto version = connection.prepare("SELECT max(version) FROM schema_version");
  if (!version) return version.error();
  row = version.value().step();
  if (!row) return row.error();
  return static_cast<int>(version.value().column_int(0));
}

}  // namespace

Result<int> migrate(Connection& connection) {
  Transaction transaction(connection);
  if (!transaction.ok()) return transaction.begin_status().error();

  auto version = current_version(connection);
  if (!version) return version.error();
  if (version.value() > kSchemaVersion) {
    return unavailable("store.schema_too_new",
                       "database '" + connection.path() + "' has schema version " +
                           std::to_string(version.value()) + " but this build reads up to " +
                           std::to_string(kSchemaVersion) + "; run a newer lognurse");
  }
  if (version.value() == kSchemaVersion) return version.value();

  for (int step = version.value(); step < kSchemaVersion; ++step) {
    auto status = connection.exec(migrations()[static_cast<std::size_t>(step)]);
    if (!status) return status.error();
  }
  auto record =
      connection.exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
  if (!record) return record.error();
  auto committed = transaction.commit();
  if (!committed) return committed.error();
  return kSchemaVersion;
}

}  // namespace lognurse::local_store
