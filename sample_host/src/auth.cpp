#include "auth.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lognurse::host {

namespace {

std::string trim_line_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

Result<BearerAuth> BearerAuth::from_settings(const std::string& token_file) {
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in(token_file, std::ios::binary);
    if (!in) {
      return invalid_argument("config.auth_token_file",
                              "cannot read server.auth_token_file " + token_file +
                                  "; create it with the token on one line, readable by the host");
    }
    std::ostringstream text;
    text << in.rdbuf();
    token = trim_line_end(text.str());
    if (token.empty()) {
      return invalid_argument("config.auth_token_file",
                              "server.auth_token_file " + token_file + " holds no token");
    }
  } else if (const char* value = std::getenv(kAuthTokenVariable)) {
    token = trim_line_end(value);
    if (token.empty()) {
      return invalid_argument("config.auth_token",
                              std::string(kAuthTokenVariable) + " is set but empty; unset it to "
                                                            "turn authentication off");
    }
  } else {
    return BearerAuth();
  }
  return with_token(std::move(token));
}

BearerAuth BearerAuth::with_token(std::string token) {
  BearerAuth auth;
  auth.token_ = std::move(token);
  return auth;
}

bool BearerAuth::allows(const std::string& authorization) const {
  if (!token_) return true;
  static const std::string kScheme = "Bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  return constant_time_equal(authorization.substr(kScheme.size()), *token_);
}

bool BearerAuth::is_open_path(const std::string& path) { return path == "/ready"; }

}  // namespace lognurse::host
