#pragma once

// A thin RAII layer over the SQLite C API: connections, prepared statements
// and transactions whose failures come back as lognurse::Error values with
// "store.*" codes. Nothing here throws.
//
// Thread safety: a Connection and its Statements must be used by one thread
// at a time; the store gives each thread its own read connection and guards
// the write connection with a mutex.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lognurse/host_api/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace lognurse::local_store {

/// A prepared statement. Movable, not copyable; finalized on destruction.
class Statement {
public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  /// Binds a 64-bit integer to the 1-based parameter `index`.
  void bind(int index, std::int64_t value);

  /// Binds text (copied by SQLite, so `value` may go away afterwards).
  void bind_text(int index, std::string_view value);

  /// Binds bytes as a BLOB (copied by SQLite).
  void bind_blob(int index, std::string_view value);

  /// Binds SQL NULL.
  void bind_null(int index);

  /// Advances: true when a row is available, false when done.
  Result<bool> step();

  /// Runs a statement that returns no rows (or whose rows are ignored) to completion.
  Status run();

  /// Resets the statement so it can be stepped again, and clears bindings.
  void reset();

  /// Column accessors for the current row (0-based).
  std::int64_t column_int(int index) const;
  bool column_is_null(int index) const;

  /// Text or BLOB content of a column as bytes; valid until the next step or reset.
  std::string_view column_bytes(int index) const;

private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

/// An open database connection. Closed on destruction.
class Connection {
public:
  /// Opens (creating when `create` is true) the database file at `path`.
  static Result<std::unique_ptr<Connection>> open(const std::string& path, bool create);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// Runs one or more SQL statements that take no parameters.
  Status exec(std::string_view sql);

  /// Compiles one statement.
  Result<Statement> prepare(std::string_view sql);

  /// Rows changed by the most recent INSERT, UPDATE or DELETE.
  std::int64_t changes() const;

  /// The file this connection was opened on.
  const std::string& path() const { return path_; }

  /// The raw handle, for the few calls this wrapper does not cover.
  sqlite3* handle() const { return db_; }

  /// Interrupts any statement of this connection that runs past `deadline` (a steady-clock
  /// time in nanoseconds since its epoch); 0 removes the deadline.
  void set_deadline(std::int64_t deadline);

private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::int64_t deadline_ = 0;
};

/// Turns the connection's last failure into an Error: "store.busy" (unavailable) for lock
/// timeouts, "store.query_timeout" (timeout) for an interrupted statement, "store.disk_full",
/// "store.cannot_open", "store.corrupt", and "store.sqlite" otherwise. `what` says which
/// operation failed.
Error sqlite_error(sqlite3* db, int code, std::string_view what);

/// A write transaction (BEGIN IMMEDIATE) that rolls back unless committed.
class Transaction {
public:
  /// Starts the transaction on `connection`; check ok() afterwards.
  explicit Transaction(Connection& connection);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  /// Whether BEGIN succeeded; begin_status() says why not.
  bool ok() const { return begin_status_.ok(); }

  /// The result of BEGIN IMMEDIATE.
  const Status& begin_status() const { return begin_status_; }

  /// Commits; after a failure the destructor rolls back.
  Status commit();

private:
  Connection& connection_;
  Status begin_status_;
  bool open_ = false;
};

}  // namespace lognurse::local_store
