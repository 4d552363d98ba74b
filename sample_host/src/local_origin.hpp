#pragma once

// Which requests a listener on a loopback address takes from browser pages.
//
// A page on another site can reach a listener on 127.0.0.1: by a cross-site
// request (its Origin names the site) or by DNS rebinding (its Host names the
// site, resolved to 127.0.0.1). A listener without a token would let such a
// page read and write the logs, so a loopback listener takes only requests
// whose Origin and Host, when present, name this machine's loopback interface:
// localhost, an IPv4 address in 127.0.0.0/8 written as four decimal numbers,
// or [::1], exactly.

#include <string>

namespace lognurse::host {

/// Whether a listen address, "host:port", is on the loopback interface (an empty host is
/// taken as the default, 127.0.0.1).
bool is_loopback_listen_address(const std::string& listen);

/// Whether an Origin header value is absent or a loopback origin
/// ("http://localhost:8470", "http://127.0.0.1", "http://[::1]:3000").
bool origin_is_local(const std::string& origin);

/// Whether a Host header value is absent (HTTP/1.0 clients send none) or names a loopback
/// address, with or without a port.
bool host_is_local(const std::string& host);

/// Why a request with these Origin and Host headers must not reach a loopback listener, in
/// words for the sender; empty when it may.
std::string foreign_page_refusal(const std::string& origin, const std::string& host);

}  // namespace lognurse::host
