#pragma once

// The host's httplib listener with its own handling of connections. httplib gives each
// connection a worker thread for as long as it lives; here a connection reaches a worker
// only when its next request is buffered (connection_gate.hpp), serves the requests it has
// sent, and goes back to the gate to wait for more, so slow or idle clients hold no worker.
// Handlers learn which socket their request came on (a WebSocket reads the client's frames
// from it).

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace lognurse::host {

struct ClientConnection;
class ConnectionGate;
class ConnectionWorkers;

class HostHttpListener : public httplib::Server {
public:
  HostHttpListener();
  ~HostHttpListener() override;

  /// Starts `workers` threads for requests, `body_workers` more for requests whose body is
  /// read from the client while they are served (chunked, or too large to wait for in the
  /// gate), and the gate where connections wait; call once, after the timeouts are set and
  /// before listening. Clients that send such bodies slowly hold the body workers only.
  void start_workers(std::size_t workers, std::size_t body_workers);

  /// Lets the bound socket queue as many connections as the system allows (SOMAXCONN)
  /// where httplib asks for 5: a burst of clients connecting at once would otherwise see
  /// their connections dropped and retried a second later.
  void widen_accept_queue();

  /// After the listener stopped: closes waiting connections, lets the workers finish the
  /// requests they are serving and joins them. Also done by the destructor.
  void close_connections();

  /// The socket of the connection whose request this thread is handling, or -1 outside a
  /// handler.
  static int current_socket();

  /// Whether the request this thread is handling failed to arrive whole within the read
  /// timeout (for its error response); false outside a handler.
  static bool request_timed_out();

  /// Whether the request this thread is handling had a chunked body longer than the
  /// server allows (for its error response); false outside a handler.
  static bool request_over_limit();

  /// Why the chunked body of the request this thread is handling is malformed, or empty
  /// (for its error response); empty outside a handler.
  static std::string request_chunk_problem();

  /// What a client that sent a malformed chunked body is told: `problem` and how to frame it.
  static std::string chunk_refusal(const std::string& problem);

  /// The bytes the client sent after the request this thread is handling that were read
  /// already, taken from the connection (a WebSocket's first frames may come with its
  /// upgrade request); empty outside a handler.
  static std::string take_unread_input();

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
  /// Serves the buffered request of `connection` and what follows at once, then returns it
  /// to the gate or, when other connections wait for a worker, to the back of their queue.
  /// `body_worker`: this thread is one of the body workers, which serve only requests whose
  /// body is left to read; a request of the other kind goes to the other pool.
  void serve(std::shared_ptr<ClientConnection> connection, bool body_worker);
  /// Queues a connection whose request is ready with the pool that serves its kind.
  void dispatch(std::shared_ptr<ClientConnection> connection);

  std::unique_ptr<ConnectionWorkers> workers_;
  std::unique_ptr<ConnectionWorkers> body_workers_;
  std::unique_ptr<ConnectionGate> gate_;
  std::atomic<bool> closing_{false};
};

}  // namespace lognurse::host
