#pragma once

// One client connection of the HTTP listener as httplib's Stream. Its read buffer lives as
// long as the connection, so bytes read ahead belong to the next request instead of being
// lost, and the connection gate (connection_gate.hpp) can fill it without a thread waiting:
// a connection reaches a worker only once its request is buffered.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>

namespace lognurse::host {

class ConnectionStream final : public httplib::Stream {
public:
  using Clock = std::chrono::steady_clock;

  /// The read buffer's size: the gate waits for a request's body too when it fits in it
  /// together with the head.
  static constexpr std::size_t kBufferBytes = 16 * 1024;

  ConnectionStream(int fd, long read_timeout_ms, long write_timeout_ms);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

  /// Bytes read from the socket and not yet consumed.
  std::size_t buffered() const { return filled_ - offset_; }

  /// Reads what the socket holds now, without waiting, after the buffered bytes: the count
  /// read; 0 when the client closed its side; -1 with errno set (EAGAIN: nothing yet).
  /// Returns -1 with errno ENOBUFS when the buffer is full.
  ssize_t fill_available();

  enum class Arrival { ready, pending, closed };
  /// Waits up to `patience` for the next request to be buffered (request_ready()); `closed`
  /// when the client closed or the connection failed first.
  Arrival await_request(std::chrono::microseconds patience);

  /// Whether a worker can serve the next request without waiting for the client: its head
  /// is buffered, and so is its body when its Content-Length fits in the buffer with the
  /// head. Also true when the buffer is full, so that httplib reads on or refuses the head.
  bool request_ready() const;

  /// Starts reading a request that must be read whole by `deadline`: reads fail once it has
  /// passed, however the client paces its bytes.
  void begin_request(Clock::time_point deadline);
  /// Ends it: reads wait for the read timeout alone again.
  void end_request() { deadline_.reset(); }

  /// Whether a read of the current request failed because its deadline passed.
  bool timed_out() const { return timed_out_; }
  /// Whether a read of the current request failed (deadline, timeout, close or error): what
  /// follows on the connection is no longer at a request's start.
  bool broken() const { return broken_; }

private:
  ssize_t receive(char* ptr, std::size_t size, int flags);
  long wait_budget_ms() const;

  int fd_;
  long read_timeout_ms_;
  long write_timeout_ms_;
  std::optional<Clock::time_point> deadline_;
  mutable bool timed_out_ = false;
  bool broken_ = false;
  std::vector<char> buffer_ = std::vector<char>(kBufferBytes);
  std::size_t offset_ = 0;
  std::size_t filled_ = 0;
};

/// Where the head of the request at the start of `bytes` ends (the index after its blank
/// line, which may end in CRLF or LF), or npos while it is incomplete.
std::size_t request_head_end(std::string_view bytes);

/// The Content-Length of a request head, or nothing when it has none, has a
/// Transfer-Encoding, or gives a value that is not a plain decimal number.
std::optional<std::size_t> declared_content_length(std::string_view head);

}  // namespace lognurse::host
