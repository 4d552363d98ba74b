#include "schema.hpp"

#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chunks.hpp"

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

constexpr const char* kVersion2 = R"sql(
CREATE TABLE chunks (
  id         INTEGER PRIMARY KEY,
  stream_id  INTEGER NOT NULL REFERENCES streams (id),
  seq        INTEGER NOT NULL,
  compacted  INTEGER NOT NULL,
  min_ns     INTEGER NOT NULL,
  max_ns     INTEGER NOT NULL,
  entries    INTEGER NOT NULL,
  line_bytes INTEGER NOT NULL,
  levels     TEXT    NOT NULL,
  created_ns INTEGER NOT NULL,
  data       BLOB    NOT NULL
);
CREATE INDEX chunks_by_stream_time ON chunks (stream_id, min_ns);
CREATE INDEX chunks_by_end ON chunks (max_ns);
CREATE INDEX chunks_head ON chunks (compacted, stream_id);
CREATE TABLE chunk_filters (
  chunk_id INTEGER PRIMARY KEY,
  bits     BLOB NOT NULL
);
)sql";

/// Line bytes per head block written by the upgrade from version 1.
constexpr std::uint64_t kUpgradeBlockBytes = 1 << 20;

/// Moves version 1's entries rows into head blocks (in stream, time, arrival order) and
/// drops the table.
Status move_entries_into_blocks(Connection& connection) {
  auto statements = ChunkStatements::prepare(connection);
  if (!statements) return statements.error();
  auto rows = connection.prepare(
      "SELECT stream_id, ts, line, metadata, level FROM entries ORDER BY stream_id, ts, id");
  if (!rows) return rows.error();

  std::int64_t seq = 0;
  std::int64_t stream = 0;
  BlockBuilder block;
  std::deque<std::string> held;  // the bytes the pending block points at
  auto flush = [&]() -> Status {
    if (block.empty()) return success();
    auto encoded = encode_chunk(block, false);
    if (!encoded) return encoded.error();
    auto inserted = statements.value().insert(stream, ++seq, 0, encoded.value());
    if (!inserted) return inserted.error();
    block.clear();
    held.clear();
    return success();
  };
  for (;;) {
    auto row = rows.value().step();
    if (!row) return row.error();
    if (!row.value()) break;
    Statement& r = rows.value();
    if (r.column_int(0) != stream || block.line_bytes() >= kUpgradeBlockBytes) {
      auto flushed = flush();
      if (!flushed) return flushed;
      stream = r.column_int(0);
    }
    Labels metadata;
    if (!r.column_is_null(3)) {
      auto object = nlohmann::json::parse(r.column_bytes(3), nullptr, false);
      if (object.is_object()) {
        for (const auto& [name, value] : object.items()) {
          if (value.is_string()) metadata.emplace_back(name, value.get<std::string>());
        }
      }
    }
    const std::string& line = held.emplace_back(r.column_bytes(2));
    const std::string& level = held.emplace_back(r.column_bytes(4));
    block.add(r.column_int(1), line, metadata, level);
  }
  auto flushed = flush();
  if (!flushed) return flushed;
  rows.value() = Statement();
  return connection.exec("DROP TABLE entries");
}

/// Step i upgrades version i to version i + 1; version 0 is an empty database. The
/// upgrade from 1 to 2 also runs move_entries_into_blocks().
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> steps = {kVersion1, kVersion2};
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
    if (step == 1) {
      auto moved = move_entries_into_blocks(connection);
      if (!moved) return moved.error();
    }
  }
  auto record =
      connection.exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
  if (!record) return record.error();
  auto committed = transaction.commit();
  if (!committed) return committed.error();
  return kSchemaVersion;
}

}  // namespace lognurse::local_store
