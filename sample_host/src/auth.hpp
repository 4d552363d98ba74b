#pragma once

// Optional bearer-token authentication for every HTTP surface (REST, MCP, the
// Loki and OTLP APIs). The token comes from a file (server.auth_token_file)
// or the LOGNURSE_AUTH_TOKEN environment variable, is compared in constant
// time, and is never logged. /ready stays open so that probes need no secret.

#include <optional>
#include <string>

#include "lognurse/host_api/result.hpp"

namespace lognurse::host {

/// The environment variable that holds the token when no file is configured.
inline constexpr const char* kAuthTokenVariable = "LOGNURSE_AUTH_TOKEN";

class BearerAuth {
public:
  /// No token: every request is allowed.
  BearerAuth() = default;

  /// Reads the token from `token_file` when it is not empty, else from the
  /// LOGNURSE_AUTH_TOKEN environment variable; neither set means no
  /// authentication. A file that cannot be read, or an empty token, is an
  /// error that names the file or the variable (never the token).
  static Result<BearerAuth> from_settings(const std::string& token_file);

  /// A token given directly (tests).
  static BearerAuth with_token(std::string token);

  bool enabled() const { return token_.has_value(); }

  /// True when authentication is off, or `authorization` is "Bearer <token>".
  bool allows(const std::string& authorization) const;

  /// True for paths that never need a token.
  static bool is_open_path(const std::string& path);

private:
  std::optional<std::string> token_;
};

/// Compares two strings in time that depends only on their lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace lognurse::host
