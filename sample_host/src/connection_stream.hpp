#pragma once

// One client connection of the HTTP listener as httplib's Stream. Its read buffer lives as
// long as the connection, so bytes read ahead belong to the next request instead of being
// lost, and the connection gate (connection_gate.hpp) can fill it without a thread waiting:
// a connection reaches a worker only once its request is buffered. The stream also watches
// what httplib makes of a request (how much of it was read, whether the response said it
// closes the connection), so that a request httplib leaves half read is never followed by
// its own leftovers parsed as the next request.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>

namespace lognurse::host {

/// How a request's head frames it, as far as the buffered bytes show.
struct RequestFraming {
  /// Bytes of the head, up to and with its blank line; npos while it is not whole.
  std::size_t head_size = std::string_view::npos;
  std::optional<std::size_t> content_length;
  bool chunked = false;           ///< Transfer-Encoding: chunked, the body frames itself
  bool expects_continue = false;  ///< Expect: 100-continue, in any case
  /// The Expect value is exactly "100-continue", the one httplib answers by itself.
  bool httplib_continues = false;
  /// Connection: close, in any case, or a body httplib will not read (of a GET, say): the
  /// connection ends after the response.
  bool closes = false;
  /// Why the head must be refused, or empty: framing that two readers could take apart
  /// differently (two Content-Lengths, one that is no number or sits beside a
  /// Transfer-Encoding, a header line httplib would skip or misread, a Host header missing
  /// or doubled in HTTP/1.1), or a transfer coding httplib does not read.
  std::string problem;
  /// 400; 501 for a transfer coding other than chunked or a method the host does not serve;
  /// 505 for an HTTP version other than 1.0 and 1.1.
  int problem_status = 400;
  std::string problem_code = "http.bad_framing";  ///< the code of the refusal's JSON error

  bool whole_head() const { return head_size != std::string_view::npos; }
};

/// The head of a response as httplib wrote it (`bytes`, with anything after it) as it
/// should go out, or nullopt when it goes out as it is. httplib gives a 101 the Content-Length
/// and Content-Type of the provider that carries the WebSocket's frames (RFC 9110 forbids
/// content on a 1xx) and the reason phrase "Switching Protocol"; and a response that says
/// Connection: close may also say Keep-Alive, or close twice, when a handler said it and
/// httplib too.
std::optional<std::string> cleaned_response_head(std::string_view bytes);

/// Reads the head of the request at the start of `bytes`. The head ends at the first line
/// that is only CRLF, as httplib reads it, or at a first blank line of a bare LF, which
/// httplib would skip: such a head is refused (`problem`) rather than left waiting.
RequestFraming frame_request(std::string_view bytes);

class ConnectionStream final : public httplib::Stream {
public:
  using Clock = std::chrono::steady_clock;

  /// The read buffer's size, which bounds a request head.
  static constexpr std::size_t kBufferBytes = 16 * 1024;
  /// The largest request (head and Content-Length body) whose body is waited for before a
  /// worker takes it: the buffer grows to hold it, and shrinks back once it is read.
  static constexpr std::size_t kMaxWaitedRequestBytes = 1024 * 1024;
  /// What all connections' buffers together may grow beyond kBufferBytes. A request that
  /// finds it spent is handed to a worker with its head, which reads the body itself.
  static constexpr std::size_t kWaitedBodiesBudget = 64 * 1024 * 1024;

  /// Reads give up as soon as `*stopping` is true (the listener is stopping).
  ConnectionStream(int fd, long read_timeout_ms, long write_timeout_ms,
                   const std::atomic<bool>* stopping = nullptr);
  ~ConnectionStream() override;
  ConnectionStream(const ConnectionStream&) = delete;
  ConnectionStream& operator=(const ConnectionStream&) = delete;

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

  /// Bytes read from the socket and not yet consumed.
  std::size_t buffered() const { return filled_ - offset_; }
  std::string_view buffered_bytes() const { return {buffer_.data() + offset_, buffered()}; }
  bool full() const { return buffered() == buffer_.size(); }

  /// Consumes the buffered bytes and returns them (a WebSocket handler takes the frames
  /// that came with its upgrade request).
  std::string take_buffered();

  /// Drops empty lines before the next request line (RFC 9112, section 2.2: a client may
  /// send CRLF after a body; httplib would answer the empty line with 400).
  void skip_blank_lines();

  /// Reads what the socket holds now, without waiting, after the buffered bytes: the count
  /// read; 0 when the client closed its side; -1 with errno set (EAGAIN: nothing yet).
  /// Returns -1 with errno ENOBUFS when the buffer is full.
  ssize_t fill_available();

  /// Whether a worker can serve the next request without waiting for the client: its head
  /// is buffered and framed soundly, and so is its body when the buffer holds or could grow
  /// to hold it (kMaxWaitedRequestBytes). A larger body, or one that frames itself
  /// (chunked), is left to the worker.
  /// Sizes the buffer for the request first (fit_buffer).
  bool request_ready();

  /// Rewrites a buffered request line whose target is in absolute form
  /// ("GET http://host:8470/ready HTTP/1.1", as a client sends to a proxy) to the origin form
  /// httplib routes ("GET /ready HTTP/1.1"): RFC 9112, section 3.2.2, has servers accept
  /// both. True when it rewrote it; the head is then shorter.
  bool strip_absolute_target();

  /// Rewrites the buffered request's "Expect: 100-continue" to "Expect: 100-answered", of the
  /// same length: the gate has sent 100 Continue, and httplib, which answers every
  /// "100-continue" it reads, would send a second one after the body.
  void mark_expectation_answered();

  /// Whether the buffered request is ready but its body is not all buffered: a chunked body,
  /// or one larger than the buffer could grow to. The worker that serves it reads the rest
  /// from the client, at the client's pace.
  bool body_left_to_read();

  enum class Arrival { ready, pending, closed };
  /// Waits up to `patience` for the next request to be ready (request_ready()) or the
  /// buffer to fill; `closed` when the client closed or the connection failed first.
  Arrival await_request(std::chrono::microseconds patience);

  /// Starts reading the buffered request, which must be read whole by `deadline`: reads
  /// that find nothing to read fail once it has passed, however the client paces its bytes.
  /// A chunked body may take at most `max_body_bytes`, a sixteenth more and 64 KiB with its
  /// framing.
  void begin_request(Clock::time_point deadline, std::size_t max_body_bytes);

  /// Whether the connection ends after the current request whatever happens (it was
  /// chunked, asked to close, or has a body httplib will not read): its response must say
  /// so.
  bool closes_after() const { return request_closes_; }
  /// Ends it: reads wait for the read timeout alone again.
  void end_request() { deadline_.reset(); }

  /// Whether a read of the current request failed because its deadline passed.
  bool timed_out() const { return timed_out_; }
  /// Whether a read of the current request failed because its chunked body grew too long.
  bool over_limit() const { return over_limit_; }
  /// Why the current request's chunked body is malformed, or empty: the stream checks the
  /// chunked framing as httplib reads it (which takes a chunk's data without the CRLF after
  /// it), and drops the trailer fields, which httplib would refuse.
  const std::string& chunk_problem() const { return chunks_.problem; }
  /// Whether the connection must close after the current request: a read failed, the
  /// request or its response said so, the request had a chunked body (whose end httplib
  /// may misjudge, or not look for), or less of it was read than its head declared
  /// (httplib reads no body of a GET, and stops at some errors): what follows may not be
  /// at a request's start.
  bool must_close() const;

private:
  ssize_t receive(char* ptr, std::size_t size, int flags);
  /// Moves up to `size` bytes of a chunked body from the buffer to `ptr`, checking its
  /// framing and leaving out trailer fields; sets chunks_.problem on malformed framing.
  std::size_t take_chunked(char* ptr, std::size_t size);
  /// Sends all of `bytes`, waiting as write() waits, and returns `reported`.
  ssize_t write_whole(const std::string& bytes, std::size_t reported);
  /// Sizes the buffer for the request at its front: grown to hold a head and body of at
  /// most kMaxWaitedRequestBytes while the budget allows, back to kBufferBytes otherwise,
  /// never below the bytes it holds.
  void fit_buffer();
  long wait_budget_ms() const;
  void watch_response(std::string_view bytes);

  int fd_;
  long read_timeout_ms_;
  long write_timeout_ms_;
  const std::atomic<bool>* stopping_;
  std::optional<Clock::time_point> deadline_;
  mutable bool timed_out_ = false;
  bool over_limit_ = false;
  bool request_closes_ = false;      ///< see closes_after()
  std::size_t read_limit_ = 0;       ///< consumed_ a chunked request may not pass
  bool broken_ = false;              ///< a read of the current request failed
  bool response_closes_ = false;     ///< its response refused it or said Connection: close
  bool response_head_seen_ = false;  ///< the final response's head was written
  std::size_t consumed_ = 0;         ///< bytes of the connection read by httplib so far
  std::size_t request_end_ = 0;      ///< consumed_ once the current request is read whole
  bool request_end_known_ = false;   ///< false for a chunked body
  /// Where the current chunked body stands, from consumed_ == body_start_ on.
  struct ChunkedBody {
    enum class At {
      size, extension, size_lf, data, data_cr, data_lf, trailer_start, trailer_line,
      trailer_lf, last_lf, done
    };
    bool active = false;  ///< the current request's body is chunked
    At at = At::size;
    std::uint64_t left = 0;  ///< of the chunk's data, or its size as read so far
    int digits = 0;
    std::string problem;
  };
  ChunkedBody chunks_;
  std::size_t body_start_ = 0;  ///< consumed_ at the first byte of the current body
  std::vector<char> buffer_ = std::vector<char>(kBufferBytes);
  std::size_t budgeted_ = 0;  ///< bytes of buffer_ beyond kBufferBytes, taken from the budget
  std::size_t offset_ = 0;
  std::size_t filled_ = 0;
};

}  // namespace lognurse::host
