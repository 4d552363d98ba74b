#include "local_origin.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace lognurse::host {
namespace {

/// The host of an authority, "host", "host:port" or "[v6]:port", in lower case; empty when
/// the authority is not one of these (a port that is not digits, user information).
std::string host_of_authority(std::string_view authority) {
  if (authority.find('@') != std::string_view::npos) return "";
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "";
    host = authority.substr(0, close + 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "";
      port = rest.substr(1);
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return "";
  }
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "";
  }
  std::string lowered(host);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered;
}

/// Whether `host` (lower case) names this machine's loopback interface: localhost, an IPv4
/// address in 127.0.0.0/8 written as four decimal numbers, or [::1]. Exactly: a name that
/// only starts like one ("127.0.0.1.attacker.example") is another machine's.
bool is_loopback_name(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  int parts = 0;
  for (std::size_t at = 0; at <= host.size(); ++parts) {
    const std::size_t dot = std::min(host.find('.', at), host.size());
    const std::string_view part = host.substr(at, dot - at);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(part)) > 255 || (parts == 0 && part != "127")) {
      return false;
    }
    at = dot + 1;
  }
  return parts == 4;
}

/// The host of an Origin, "scheme://authority", or empty when it has another form.
std::string host_of_origin(std::string_view origin) {
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos) return "";
  std::string_view rest = origin.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  return host_of_authority(rest);
}

}  // namespace

bool is_loopback_listen_address(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host.empty() || is_loopback_name(host);
}

bool origin_is_local(const std::string& origin) {
  return origin.empty() || is_loopback_name(host_of_origin(origin));
}

bool host_is_local(const std::string& host) {
  return host.empty() || is_loopback_name(host_of_authority(host));
}

std::string foreign_page_refusal(const std::string& origin, const std::string& host) {
  if (!origin_is_local(origin)) {
    return "Origin " + origin + " is not allowed: this listener is on a loopback address and "
           "answers pages of local origins only (localhost, 127.0.0.1, [::1])";
  }
  if (!host_is_local(host)) {
    return "Host " + host + " is not allowed: this listener is on a loopback address; use "
           "localhost, 127.0.0.1 or [::1]";
  }
  return "";
}

}  // namespace lognurse::host
