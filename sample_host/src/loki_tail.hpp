#pragma once

// Loki's /loki/api/v1/tail: a WebSocket that streams the entries a log query matches as they
// arrive, over whichever backend is active. The host polls the backend once a second for
// entries newer than the last one sent, delay_for seconds behind now. Between polls it reads
// the client's frames (websocket.hpp): a ping is answered with a pong, a close frame with a
// close frame, after which the tail ends; a frame that breaks RFC 6455 or a message over
// 64 KiB is answered with a close frame (1002, 1007 or 1009) and ends the tail. Client
// messages are otherwise ignored. A tail also ends when a write fails (the client went away)
// and, with a close frame 1001, when the server stops.

#include <string>

#include "lognurse/registry/registry.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

/// At most this many tails run at once: each holds one worker thread of the listener.
inline constexpr int kMaxConcurrentTails = 4;

/// Registers GET /loki/api/v1/tail on `server` and clears an earlier stop_loki_tails().
void install_loki_tail(httplib::Server& server, registry::Registry& registry);

/// Makes every running tail end within a poll interval; call before stopping the server.
void stop_loki_tails();

/// The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455: base64 of the SHA-1 of
/// the key and the protocol's GUID).
std::string websocket_accept(const std::string& key);

}  // namespace lognurse::host
