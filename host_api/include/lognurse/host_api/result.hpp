#pragma once

// Errors cross every plugin boundary as values. An Error carries a stable,
// greppable code ("store.line_too_long", "logql.parse_error") that the REST and
// MCP layers pass through unchanged, and a message that says what was wrong and
// how to fix it.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace lognurse {

/// Broad class of an error; decides the HTTP status and whether a retry helps.
enum class ErrorKind {
  invalid_argument,  ///< the caller sent something malformed: 400
  not_found,         ///< an unknown tool, route or label: 404
  limit_exceeded,    ///< input over a configured limit: 400 (413 for bodies)
  rate_limited,      ///< over an ingestion rate: 429
  unavailable,       ///< a backend is down or not configured: 503
  timeout,           ///< the operation ran out of time: 504
  internal,          ///< a bug or an unexpected failure: 500
};

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string code;     ///< stable identifier, "<component>.<what>"
  std::string message;  ///< what was wrong, where, and how to fix it

  /// The HTTP status a REST layer answers with for this error.
  int http_status() const;
};

Error invalid_argument(std::string code, std::string message);
Error not_found(std::string code, std::string message);
Error limit_exceeded(std::string code, std::string message);
Error unavailable(std::string code, std::string message);
Error internal_error(std::string code, std::string message);

/// Thrown only by Result::value() on misuse; defined out of line in
/// libhost_api.so so that the host can catch it by type.
class BadResultAccess : public std::logic_error {
public:
  explicit BadResultAccess(const Error& error);
  ~BadResultAccess() override;
};

/// A value or an Error. Deliberately small: ok(), value(), error().
template <typename T>
class [[nodiscard]] Result {
public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    check();
    return std::get<0>(state_);
  }
  const T& value() const& {
    check();
    return std::get<0>(state_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(state_));
  }
  const Error& error() const { return std::get<1>(state_); }

private:
  void check() const {
    if (!ok()) throw BadResultAccess(error());
  }
  std::variant<T, Error> state_;
};

/// Result of an operation that returns nothing on success.
struct Unit {};
using Status = Result<Unit>;
inline Status success() { return Unit{}; }

}  // namespace lognurse
