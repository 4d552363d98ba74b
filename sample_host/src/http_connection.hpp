#pragma once

// The host's httplib listener with its own loop over the requests of a connection. httplib
// 0.11 waits for the next request of a keep-alive connection in 10 ms polls with a blind 1 ms
// sleep after each empty one, so a request that arrives after a pause of the client waits
// up to a millisecond (more on a busy machine) before it is read; this loop waits in one
// poll that returns as soon as the request arrives. It also tells a handler which socket its
// request came on (a WebSocket reads the client's frames from it).

#include <httplib.h>

namespace lognurse::host {

class HostHttpListener : public httplib::Server {
public:
  /// The socket of the connection whose request this thread is handling, or -1 outside a
  /// handler.
  static int current_socket();

  /// Adjusts a request whose head is read, before httplib reads its body:
  /// - A request with neither Content-Length nor Transfer-Encoding has an empty body
  ///   (RFC 9112, section 6.3); httplib would read such a POST until the client closes.
  /// - A urlencoded form's Content-Type moves to kFormContentTypeHeader, so that httplib,
  ///   which refuses forms over 8 KiB (a limit compiled into Debian's library), reads it as
  ///   any body, within server.max_body_bytes; the routes that take forms parse it.
  static void frame_request_body(httplib::Request& req);

  /// Whether the request's body is a urlencoded form (see frame_request_body).
  static bool has_form_body(const httplib::Request& req);

  static constexpr const char* kFormContentTypeHeader = "X-Lognurse-Form-Content-Type";

private:
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace lognurse::host
