#include "lognurse/host_api/result.hpp"

namespace lognurse {

int Error::http_status() const {
  switch (kind) {
    case ErrorKind::invalid_argument: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::limit_exceeded: return 400;
    case ErrorKind::rate_limited: return 429;
    case ErrorKind::unavailable: return 503;
    case ErrorKind::timeout: return 504;
    case ErrorKind::internal: return 500;
  }
  return 500;
}

Error invalid_argument(std::string code, std::string message) {
  return Error{ErrorKind::invalid_argument, std::move(code), std::move(message)};
}

Error not_found(std::string code, std::string message) {
  return Error{ErrorKind::not_found, std::move(code), std::move(message)};
}

Error limit_exceeded(std::string code, std::string message) {
  return Error{ErrorKind::limit_exceeded, std::move(code), std::move(message)};
}

Error unavailable(std::string code, std::string message) {
  return Error{ErrorKind::unavailable, std::move(code), std::move(message)};
}

Error internal_error(std::string code, std::string message) {
  return Error{ErrorKind::internal, std::move(code), std::move(message)};
}

BadResultAccess::BadResultAccess(const Error& error)
    : std::logic_error("value() called on an error result: " + error.code + ": " +
                       error.message) {}

BadResultAccess::~BadResultAccess() = default;

}  // namespace lognurse
