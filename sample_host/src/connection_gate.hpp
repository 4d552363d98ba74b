#pragma once

// Where client connections wait for their next request without holding a worker thread.
// httplib gives every connection a worker for as long as it lives, so a few clients that
// send their request heads a byte at a time, or keep idle connections open, could hold all
// the workers and stall every other request. Here one thread watches the waiting
// connections with epoll, reads what they send into their buffers, and hands a connection
// to the workers once its request is buffered (see ConnectionStream::request_ready). A
// request that does not arrive whole within the read timeout gets 408 and is closed; an
// idle connection is closed after the keep-alive timeout.
//
// The buffer grows for a body that makes its request at most 1 MiB, while all such bodies
// together stay within a budget; a larger body, or a chunked one, is read by the worker,
// within the same read timeout: one of a few workers kept for such requests
// (HostHttpListener::start_workers).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection_stream.hpp"

namespace lognurse::host {

/// A client's connection: its socket, closed with it, and its stream.
struct ClientConnection {
  ClientConnection(int fd, long read_timeout_ms, long write_timeout_ms,
                   std::size_t requests_allowed, const std::atomic<bool>* stopping);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  /// Whether a request of it has been served: it comes back to wait for its next one.
  bool returning() const { return requests_left < requests_allowed; }

  int fd;
  ConnectionStream stream;
  const std::size_t requests_allowed;  ///< keep-alive requests it may make in all
  std::size_t requests_left;           ///< keep-alive requests it may still make
  /// When the first byte of the request being read arrived.
  ConnectionStream::Clock::time_point request_started;
  /// The gate answered the request's Expect: 100-continue.
  bool continue_sent = false;
};

/// Threads that serve connections whose request is buffered, first come first served.
class ConnectionWorkers {
public:
  using Serve = std::function<void(std::shared_ptr<ClientConnection>)>;

  ConnectionWorkers(std::size_t threads, Serve serve);
  ~ConnectionWorkers();  ///< shutdown()
  ConnectionWorkers(const ConnectionWorkers&) = delete;
  ConnectionWorkers& operator=(const ConnectionWorkers&) = delete;

  /// Queues `connection` for the next free thread; closes it after shutdown().
  void enqueue(std::shared_ptr<ClientConnection> connection);

  /// Whether connections are waiting for a thread now: a thread that could serve its
  /// connection's next request lets them go first.
  bool backlogged() const;

  /// Closes the queued connections, lets the threads finish what they serve and joins them.
  void shutdown();

private:
  void run();

  Serve serve_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<ClientConnection>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// The message of a 408: the request did not arrive whole within `timeout`.
std::string request_timeout_message(std::chrono::milliseconds timeout);

class ConnectionGate {
public:
  struct Options {
    std::chrono::milliseconds idle_timeout{5000};      ///< for the first byte of a request
    std::chrono::milliseconds request_timeout{30000};  ///< from the first byte to the last
    std::size_t max_waiting = 4096;                    ///< connections beyond are refused
    std::size_t max_body_bytes = 64 * 1024 * 1024;     ///< a larger Content-Length: 413
  };
  /// Takes a connection whose request is buffered; called on the gate's thread, or on the
  /// caller's from admit().
  using Dispatch = std::function<void(std::shared_ptr<ClientConnection>)>;

  ConnectionGate(Options options, Dispatch dispatch);
  ~ConnectionGate();  ///< stop()
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  /// Hands `connection` to Dispatch once its next request is buffered (at once when it is).
  /// Refuses it, with a JSON error, and closes it: when the request does not come whole in
  /// time (408), its head outgrows the buffer (431), its framing is ambiguous (400), its
  /// Content-Length is over max_body_bytes (413), or max_waiting connections wait already
  /// (503). Closes it silently when it stays idle, when it comes back idle after a request
  /// and max_waiting connections wait already (the client opens another, as after any
  /// keep-alive timeout), or when the gate has stopped.
  void admit(std::shared_ptr<ClientConnection> connection);

  /// Closes every waiting connection and ends the gate's thread; later admits close theirs.
  void stop();

  /// Keeps a refused connection a little longer, reading and dropping what the client
  /// still sends, so that its refusal is not lost to a reset (a client sending a large
  /// body reads the answer only once it has sent it); closes it at the client's end of
  /// input, after 2 s, or after 64 MiB.
  void linger(std::shared_ptr<ClientConnection> connection);

  enum class Verdict { wait, dispatch, refused };
  /// What to do with a connection after its bytes so far: wait for more, serve it, or
  /// (done here, with the error response) refuse it. Sends the 100 Continue a request that
  /// waits for its body, or one httplib would not answer, calls for. Safe from any thread
  /// that holds the connection.
  Verdict judge(ClientConnection& connection) const;

private:
  struct Waiting {
    std::shared_ptr<ClientConnection> connection;
    ConnectionStream::Clock::time_point deadline;
    bool started = false;  ///< some of the request has arrived
    bool draining = false;  ///< refused: what arrives is dropped until the client is done
    std::size_t dropped = 0;
  };

  /// linger() with mutex_ held.
  void linger_locked(std::shared_ptr<ClientConnection> connection);
  /// Adds `entry` to the waiting connections and to epoll (closing it when epoll fails),
  /// with mutex_ held.
  void watch_locked(Waiting entry);

  void run();
  /// Reads what a waiting connection sent, and passes it on or refuses it when it can.
  void on_readable(int fd);
  void expire(ConnectionStream::Clock::time_point now);

  Options options_;
  Dispatch dispatch_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  mutable std::mutex mutex_;
  std::unordered_map<int, Waiting> waiting_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace lognurse::host
