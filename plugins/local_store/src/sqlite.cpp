#include "sqlite.hpp"

#include <sqlite3.h>

#include <chrono>
#include <utility>

namespace lognurse::local_store {

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Statement::bind_text(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void Statement::bind_blob(int index, std::string_view value) {
  // A zero-length BLOB must not be bound from a null pointer, which SQLite reads as NULL.
  static const char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
}

void Statement::bind_null(int index) { sqlite3_bind_null(stmt_, index); }

Result<bool> Statement::step() {
  int code = sqlite3_step(stmt_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  return sqlite_error(db_, code, "step");
}

Status Statement::run() {
  for (;;) {
    auto row = step();
    if (!row) return row.error();
    if (!row.value()) break;
  }
  reset();
  return success();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::string_view Statement::column_bytes(int index) const {
  // sqlite3_column_blob before sqlite3_column_bytes, as SQLite documents, for either type.
  const void* data = sqlite3_column_blob(stmt_, index);
  int size = sqlite3_column_bytes(stmt_, index);
  if (data == nullptr || size <= 0) return {};
  return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
}

Error sqlite_error(sqlite3* db, int code, std::string_view what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  std::string file;
  if (db != nullptr) {
    const char* name = sqlite3_db_filename(db, "main");
    if (name != nullptr) file = name;
  }
  std::string message = "SQLite " + std::string(what) + " failed on '" + file + "': " + detail;
  int primary = code & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return unavailable("store.busy", message +
                                         "; another process holds the database lock, "
                                         "retry later or raise busy_timeout");
  }
  if (primary == SQLITE_INTERRUPT) {
    return Error{ErrorKind::timeout, "store.query_timeout",
                 "the query ran longer than limits.query_timeout; narrow the time range or the "
                 "stream selector"};
  }
  if (primary == SQLITE_FULL) {
    return unavailable("store.disk_full", message + "; free disk space");
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_READONLY) {
    return unavailable("store.cannot_open",
                       message + "; check that the directory exists and is writable");
  }
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return internal_error("store.corrupt", message + "; the file is not a healthy database");
  }
  return internal_error("store.sqlite", message);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, bool create) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  int code = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (code != SQLITE_OK) {
    Error error = sqlite_error(db, code, "open");
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<Connection>(new Connection(db, path));
}

Connection::~Connection() { sqlite3_close_v2(db_); }

Status Connection::exec(std::string_view sql) {
  std::string text(sql);
  int code = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) return sqlite_error(db_, code, "exec");
  return success();
}

Result<Statement> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int code = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (code != SQLITE_OK) return sqlite_error(db_, code, "prepare");
  return Statement(db_, stmt);
}

void Connection::set_deadline(std::int64_t deadline) {
  deadline_ = deadline;
  if (deadline == 0) {
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    return;
  }
  // SQLite calls this every few thousand virtual-machine steps; a non-zero answer interrupts.
  constexpr int kStepsBetweenChecks = 10000;
  sqlite3_progress_handler(
      db_, kStepsBetweenChecks,
      [](void* context) -> int {
        auto deadline = *static_cast<const std::int64_t*>(context);
        auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
        return now > deadline ? 1 : 0;
      },
      &deadline_);
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

Transaction::Transaction(Connection& connection)
    : connection_(connection), begin_status_(connection.exec("BEGIN IMMEDIATE")) {
  open_ = begin_status_.ok();
}

Transaction::~Transaction() {
  if (open_) (void)connection_.exec("ROLLBACK");
}

Status Transaction::commit() {
  auto status = connection_.exec("COMMIT");
  if (status) open_ = false;
  return status;
}

}  // namespace lognurse::local_store
