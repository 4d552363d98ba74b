#include "connection_stream.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

namespace lognurse::host {

namespace {

/// How often a read that waits for the client looks whether the listener is stopping.
constexpr long kStopCheckMs = 100;

/// poll() for `events` within `timeout_ms`, resumed after signals; >0 ready, 0 timeout.
int wait_for(int fd, short events, long timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(std::max(0L, timeout_ms)));
    if (ready >= 0 || errno != EINTR) return ready;
    timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     until - std::chrono::steady_clock::now())
                     .count();
  }
}

void numeric_address(const sockaddr_storage& address, socklen_t size, std::string& ip,
                     int& port) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&address), size, host, sizeof host,
                    service, sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(service);
  }
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

/// Bytes all connections' buffers hold beyond kBufferBytes (ConnectionStream::fit_buffer).
std::atomic<std::size_t> g_budgeted_bytes{0};

}  // namespace

ConnectionStream::ConnectionStream(int fd, long read_timeout_ms, long write_timeout_ms,
                                   const std::atomic<bool>* stopping)
    : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms),
      stopping_(stopping) {}

ConnectionStream::~ConnectionStream() { g_budgeted_bytes.fetch_sub(budgeted_); }

void ConnectionStream::fit_buffer() {
  std::size_t wanted = kBufferBytes;
  const RequestFraming framing = frame_request(buffered_bytes());
  if (framing.whole_head() && framing.problem.empty() && !framing.chunked &&
      framing.content_length &&
      *framing.content_length <= kMaxWaitedRequestBytes - framing.head_size) {
    wanted = std::max(wanted, offset_ + framing.head_size + *framing.content_length);
  }
  wanted = std::max(wanted, filled_);  // bytes already read stay where they are
  if (wanted == buffer_.size()) return;
  const std::size_t extra = wanted - kBufferBytes;
  if (extra > budgeted_) {
    const std::size_t more = extra - budgeted_;
    std::size_t taken = g_budgeted_bytes.load();
    do {
      if (taken + more > kWaitedBodiesBudget) return;  // a worker reads the body instead
    } while (!g_budgeted_bytes.compare_exchange_weak(taken, taken + more));
  } else {
    g_budgeted_bytes.fetch_sub(budgeted_ - extra);
  }
  budgeted_ = extra;
  buffer_.resize(wanted);
  buffer_.shrink_to_fit();
}

long ConnectionStream::wait_budget_ms() const {
  if (!deadline_) return read_timeout_ms_;
  // Rounded up, so that a wait that ends finds the deadline passed.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline_ - Clock::now()).count();
  return std::clamp<long>(left, 0, read_timeout_ms_);
}

void ConnectionStream::begin_request(Clock::time_point deadline, std::size_t max_body_bytes) {
  deadline_ = deadline;
  timed_out_ = false;
  over_limit_ = false;
  broken_ = false;
  response_closes_ = false;
  response_head_seen_ = false;
  const RequestFraming framing = frame_request(buffered_bytes());
  const std::size_t head = framing.whole_head() ? framing.head_size : 0;
  request_end_known_ = framing.whole_head() && !framing.chunked;
  request_end_ = consumed_ + head + framing.content_length.value_or(0);
  request_closes_ = framing.chunked || framing.closes;
  chunks_ = ChunkedBody{};
  chunks_.active = framing.whole_head() && framing.chunked;
  body_start_ = consumed_ + head;
  read_limit_ = framing.chunked
                    ? consumed_ + head + max_body_bytes + max_body_bytes / 16 + 64 * 1024
                    : std::numeric_limits<std::size_t>::max();
}

bool ConnectionStream::must_close() const {
  return broken_ || response_closes_ || request_closes_ ||
         (request_end_known_ && consumed_ < request_end_);
}

bool ConnectionStream::is_readable() const {
  if (buffered() > 0) return true;
  // Past the deadline the budget is 0: what has arrived meanwhile is still read (the
  // request may have waited for a worker), only a client that has not sent it fails. The
  // wait looks at the listener's stop between slices.
  const auto until = Clock::now() + std::chrono::milliseconds(wait_budget_ms());
  while (true) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (wait_for(fd_, POLLIN, std::clamp<long>(left, 0, kStopCheckMs)) > 0) return true;
    if (left <= kStopCheckMs || (stopping_ != nullptr && stopping_->load())) break;
  }
  if (deadline_ && Clock::now() >= *deadline_) timed_out_ = true;
  return false;
}

bool ConnectionStream::is_writable() const { return wait_for(fd_, POLLOUT, write_timeout_ms_) > 0; }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (size == 0) return 0;
  std::size_t n = 0;
  // More than once only while what arrives is all trailer fields, which httplib never sees.
  while (n == 0) {
    if (consumed_ >= read_limit_) {
      over_limit_ = true;
      broken_ = true;
      return -1;
    }
    const std::size_t wanted = std::min(size, read_limit_ - consumed_);
    if (buffered() == 0) {
      const ssize_t got = is_readable() ? receive(buffer_.data(), buffer_.size(), 0) : -1;
      if (got <= 0) {
        broken_ = true;
        return got;
      }
      offset_ = 0;
      filled_ = static_cast<std::size_t>(got);
    }
    if (chunks_.active && consumed_ >= body_start_) {
      n = take_chunked(ptr, wanted);
      if (!chunks_.problem.empty()) {
        broken_ = true;
        return -1;
      }
    } else {
      n = std::min(wanted, buffered());
      // The head is read as it is; the body of a chunked request goes through take_chunked.
      if (chunks_.active) n = std::min(n, body_start_ - consumed_);
      std::copy_n(buffer_.data() + offset_, n, ptr);
      offset_ += n;
      consumed_ += n;
    }
  }
  if (offset_ == filled_ && budgeted_ > 0) {
    // A waited-for body is read whole: its room goes back to the budget at once, not when
    // the client sends its next request.
    offset_ = 0;
    filled_ = 0;
    fit_buffer();
  }
  return static_cast<ssize_t>(n);
}

std::size_t ConnectionStream::take_chunked(char* ptr, std::size_t size) {
  using At = ChunkedBody::At;
  ChunkedBody& body = chunks_;
  std::size_t out = 0;
  auto fail = [&](const std::string& why) {
    body.problem = "the chunked body is malformed at byte " +
                   std::to_string(consumed_ - body_start_) + " of the body: " + why;
  };
  while (out < size && buffered() > 0 && body.problem.empty()) {
    if (body.at == At::data || body.at == At::done) {
      std::size_t n = std::min(size - out, buffered());
      if (body.at == At::data) n = static_cast<std::size_t>(std::min<std::uint64_t>(n, body.left));
      std::copy_n(buffer_.data() + offset_, n, ptr + out);
      offset_ += n;
      consumed_ += n;
      out += n;
      if (body.at == At::data && (body.left -= n) == 0) body.at = At::data_cr;
      continue;
    }
    const char c = buffer_[offset_];
    bool keep = true;  // false: a byte of a trailer field, which httplib does not see
    // The one byte the framing allows here, and where it leads.
    auto expect = [&](char wanted, At next, const char* why) {
      if (c != wanted) fail(why);
      body.at = next;
    };
    switch (body.at) {
      case At::size: {
        const int digit = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (digit >= 0) {
          if (++body.digits > 15) {
            fail("a chunk size has more than 15 hex digits");
            break;
          }
          body.left = body.left * 16 + static_cast<std::uint64_t>(digit);
        } else if (body.digits > 0 && (c == ';' || c == ' ' || c == '\t')) {
          body.at = At::extension;
        } else if (body.digits > 0 && c == '\r') {
          body.at = At::size_lf;
        } else {
          fail("a chunk starts with its size in hex digits and CRLF, not with this byte");
        }
        break;
      }
      case At::extension:
        if (c == '\r') body.at = At::size_lf;
        if (c == '\n') fail("a chunk size line ends in a bare LF");
        break;
      case At::size_lf:
        expect('\n', body.left == 0 ? At::trailer_start : At::data,
               "a chunk size line ends in a bare CR");
        body.digits = 0;
        break;
      case At::data_cr:
        expect('\r', At::data_lf, "a chunk's data is longer than its size, or lacks its CRLF");
        break;
      case At::data_lf:
        expect('\n', At::size, "a chunk's data ends in a bare CR");
        break;
      case At::trailer_start:
        if (c == '\r') {
          body.at = At::last_lf;
        } else if (c == '\n') {
          fail("the chunked body ends in a bare LF");
        } else {
          body.at = At::trailer_line;
          keep = false;
        }
        break;
      case At::trailer_line:
        keep = false;
        if (c == '\r') body.at = At::trailer_lf;
        if (c == '\n') fail("a trailer field ends in a bare LF");
        break;
      case At::trailer_lf:
        keep = false;
        expect('\n', At::trailer_start, "a trailer field ends in a bare CR");
        break;
      case At::last_lf:
        expect('\n', At::done, "the chunked body ends in a bare CR");
        break;
      case At::data:
      case At::done:
        break;
    }
    if (!body.problem.empty()) break;
    if (keep) ptr[out++] = c;
    ++offset_;
    ++consumed_;
  }
  return out;
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  const std::string_view bytes(ptr, size);
  const bool head = !response_head_seen_;
  watch_response(bytes);
  if (head) {
    if (auto cleaned = cleaned_response_head(bytes)) return write_whole(*cleaned, size);
  }
  if (!is_writable()) return -1;
  while (true) {
    const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    if (n >= 0 || errno != EINTR) return n;
  }
}

ssize_t ConnectionStream::write_whole(const std::string& bytes, std::size_t reported) {
  for (std::size_t sent = 0; sent < bytes.size();) {
    if (!is_writable()) return -1;
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    sent += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(reported);
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    numeric_address(address, size, ip, port);
  }
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    numeric_address(address, size, ip, port);
  }
}

ssize_t ConnectionStream::fill_available() {
  if (offset_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + offset_, buffered());
    filled_ -= offset_;
    offset_ = 0;
  }
  fit_buffer();
  if (filled_ == buffer_.size()) {
    errno = ENOBUFS;
    return -1;
  }
  const ssize_t n = receive(buffer_.data() + filled_, buffer_.size() - filled_, MSG_DONTWAIT);
  if (n > 0) filled_ += static_cast<std::size_t>(n);
  return n;
}

ConnectionStream::Arrival ConnectionStream::await_request(std::chrono::microseconds patience) {
  const auto until = Clock::now() + patience;
  while (!request_ready() && !full()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0 || wait_for(fd_, POLLIN, left) <= 0) return Arrival::pending;
    const ssize_t n = fill_available();
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      return Arrival::closed;
    }
  }
  return Arrival::ready;
}

bool ConnectionStream::request_ready() {
  fit_buffer();
  const RequestFraming framing = frame_request(buffered_bytes());
  if (!framing.whole_head() || !framing.problem.empty()) return false;
  if (framing.chunked || !framing.content_length) return true;
  // fit_buffer() grew the buffer for a body to wait for, if the budget allowed.
  const std::size_t whole = framing.head_size + *framing.content_length;
  return whole > buffer_.size() - offset_ || buffered() >= whole;
}

bool ConnectionStream::strip_absolute_target() {
  const std::string_view bytes = buffered_bytes();
  const std::size_t target = bytes.find(' ');
  const std::size_t line_end = bytes.find("\r\n");
  if (target == std::string_view::npos || line_end == std::string_view::npos ||
      target > line_end) {
    return false;
  }
  std::size_t scheme = 0;
  for (const std::string_view prefix : {"http://", "https://"}) {
    if (bytes.size() > target + 1 + prefix.size() &&
        equals_ignoring_case(bytes.substr(target + 1, prefix.size()), prefix)) {
      scheme = prefix.size();
    }
  }
  if (scheme == 0) return false;
  const std::size_t authority = target + 1 + scheme;
  const std::size_t path = bytes.find_first_of("/? ", authority);
  if (path == std::string_view::npos || path > line_end) return false;
  char* start = buffer_.data() + offset_;
  if (bytes[path] == '/') {
    // Drop "http://host:port": the path follows the method's space.
    std::memmove(start + target + 1, start + path, filled_ - offset_ - path);
    filled_ -= path - (target + 1);
  } else {
    // No path ("http://host" or "http://host?q"): it is "/".
    start[target + 1] = '/';
    std::memmove(start + target + 2, start + path, filled_ - offset_ - path);
    filled_ -= path - (target + 2);
  }
  return true;
}

void ConnectionStream::mark_expectation_answered() {
  const RequestFraming framing = frame_request(buffered_bytes());
  if (!framing.whole_head()) return;
  char* head = buffer_.data() + offset_;
  const std::string_view text(head, framing.head_size);
  // Header lines start after a CRLF; the request line is skipped.
  for (std::size_t line = text.find("\r\n"); line != std::string_view::npos;
       line = text.find("\r\n", line + 2)) {
    const std::size_t start = line + 2;
    const std::size_t end = text.find("\r\n", start);
    if (end == std::string_view::npos) return;
    const std::string_view field = text.substr(start, end - start);
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || !equals_ignoring_case(field.substr(0, colon), "Expect") ||
        trimmed(field.substr(colon + 1)) != "100-continue") {
      continue;
    }
    const std::size_t value = field.find("100-continue", colon + 1);
    std::memcpy(head + start + value, "100-answered", 12);
  }
}

bool ConnectionStream::body_left_to_read() {
  if (!request_ready()) return false;
  const RequestFraming framing = frame_request(buffered_bytes());
  if (framing.chunked) return true;
  return framing.content_length && buffered() < framing.head_size + *framing.content_length;
}

std::string ConnectionStream::take_buffered() {
  std::string bytes(buffered_bytes());
  consumed_ += bytes.size();
  offset_ = filled_;
  return bytes;
}

void ConnectionStream::skip_blank_lines() {
  while (buffered() > 0) {
    const char first = buffer_[offset_];
    std::size_t line = 0;
    if (first == '\n') {
      line = 1;
    } else if (first == '\r' && buffered() >= 2 && buffer_[offset_ + 1] == '\n') {
      line = 2;
    } else {
      return;
    }
    offset_ += line;
    consumed_ += line;
  }
}

void ConnectionStream::watch_response(std::string_view bytes) {
  // httplib writes a response's status line and headers in one write; interim responses
  // (100 Continue) come before and say nothing of the connection.
  if (response_head_seen_ || bytes.substr(0, 7) != "HTTP/1." || bytes.size() < 12) return;
  const std::string_view status = bytes.substr(9, 3);
  if (status == "100" || status == "102" || status == "103") return;
  response_head_seen_ = true;
  // After a switch of protocols (a WebSocket) nothing on the connection is HTTP.
  if (status == "101") response_closes_ = true;
  const std::size_t end = bytes.find("\r\n\r\n");
  const std::string_view head = bytes.substr(0, end);
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos &&
        equals_ignoring_case(line.substr(0, colon), "connection") &&
        equals_ignoring_case(trimmed(line.substr(colon + 1)), "close")) {
      response_closes_ = true;
    }
  }
}

ssize_t ConnectionStream::receive(char* ptr, std::size_t size, int flags) {
  while (true) {
    const ssize_t n = ::recv(fd_, ptr, size, flags);
    if (n >= 0 || errno != EINTR) return n;
  }
}

std::optional<std::string> cleaned_response_head(std::string_view bytes) {
  if (bytes.substr(0, 7) != "HTTP/1." || bytes.size() < 12) return std::nullopt;
  const bool switching = bytes.substr(9, 3) == "101";
  const std::size_t end = bytes.find("\r\n\r\n");
  const std::string_view head = bytes.substr(0, end);
  if (!switching && head.find("close") == std::string_view::npos &&
      head.find("Close") == std::string_view::npos) {
    return std::nullopt;  // the usual case, looked at without a copy
  }
  // Which lines go: on a 101, what says the response has content; on a response that closes
  // its connection, a Keep-Alive and a second Connection: close.
  bool closes = false;
  bool changed = switching;
  std::string out(switching ? std::string_view("HTTP/1.1 101 Switching Protocols")
                            : head.substr(0, head.find("\r\n")));
  out += "\r\n";
  std::vector<std::string_view> lines;
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;) {
    const std::size_t next = head.find("\r\n", at + 2);
    lines.push_back(head.substr(at + 2, next == std::string_view::npos ? std::string_view::npos
                                                                       : next - at - 2));
    at = next;
  }
  for (const auto line : lines) {
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos &&
        equals_ignoring_case(line.substr(0, colon), "connection") &&
        equals_ignoring_case(trimmed(line.substr(colon + 1)), "close")) {
      closes = true;
    }
  }
  bool close_said = false;
  for (const auto line : lines) {
    const std::string_view name = line.substr(0, line.find(':'));
    const bool close_line = equals_ignoring_case(name, "connection") &&
                            equals_ignoring_case(trimmed(line.substr(name.size() + 1)), "close");
    const bool dropped =
        (switching && (equals_ignoring_case(name, "content-length") ||
                       equals_ignoring_case(name, "content-type") ||
                       equals_ignoring_case(name, "keep-alive"))) ||
        (closes && equals_ignoring_case(name, "keep-alive")) || (close_line && close_said);
    close_said = close_said || close_line;
    if (dropped) {
      changed = true;
      continue;
    }
    out.append(line);
    out += "\r\n";
  }
  if (!changed) return std::nullopt;
  out += "\r\n";
  if (end != std::string_view::npos) out.append(bytes.substr(end + 4));
  return out;
}

namespace {

/// Refuses a request line that is not METHOD SP TARGET SP HTTP/1.x with a method the host
/// serves: httplib would answer such a line with a bare 400.
template <typename Refuse>
void check_request_line(std::string_view request_line, Refuse& refuse) {
  std::string_view line = request_line;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const std::size_t first = line.find(' ');
  const std::size_t last = line.rfind(' ');
  if (first == std::string_view::npos || first == last || first == 0) {
    refuse("the request line \"" + std::string(line.substr(0, 60)) +
           "\" is not METHOD TARGET HTTP/1.1");
    return;
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view version = line.substr(last + 1);
  if (version.substr(0, 5) != "HTTP/") {
    refuse("the request line \"" + std::string(line.substr(0, 60)) +
           "\" does not end in an HTTP version such as HTTP/1.1");
    return;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    refuse(std::string(version.substr(0, 20)) +
               " is not supported; speak HTTP/1.1 (or HTTP/1.0) to this host",
           505, "http.unsupported_version");
    return;
  }
  // The methods HTTP defines for resources like these: a route answers one it does not take
  // with 405 or 404; any other method is unknown here.
  static constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                  "DELETE", "OPTIONS", "PATCH"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
    refuse("the method " + std::string(method.substr(0, 20)) +
               " is unknown here; the routes take GET, HEAD, POST and, on /mcp, DELETE",
           501, "http.unsupported_method");
  }
}

}  // namespace

RequestFraming frame_request(std::string_view bytes) {
  RequestFraming framing;
  const std::size_t blank = bytes.find("\n\r\n");
  // httplib would skip a blank line of a bare LF and go on waiting; such a head is whole,
  // and refused below for its bare LF, instead of waiting for the read timeout.
  const std::size_t bare_blank = bytes.substr(0, blank).find("\n\n");
  const bool bare = bare_blank != std::string_view::npos;
  if (!bare && blank == std::string_view::npos) {
    // A line of the head so far that ends in a bare LF condemns it before it is whole.
    for (std::size_t lf = bytes.find('\n'); lf != std::string_view::npos;
         lf = bytes.find('\n', lf + 1)) {
      if (lf == 0 || bytes[lf - 1] != '\r') {
        framing.head_size = lf + 1;
        framing.problem = "a line of the request head ends in a bare LF; end every line with CRLF";
        return framing;
      }
    }
    return framing;
  }
  // The header lines, each with its line end, and the blank line after them.
  const std::size_t lines_end = (bare ? bare_blank : blank) + 1;
  framing.head_size = lines_end + (bare ? 1 : 2);
  const std::string_view head = bytes.substr(0, lines_end);
  auto refuse = [&](std::string problem, int status = 400,
                    std::string code = "http.bad_framing") {
    if (framing.problem.empty()) {
      framing.problem = std::move(problem);
      framing.problem_status = status;
      framing.problem_code = std::move(code);
    }
  };
  if (bare) refuse("the request head ends in a bare LF; end every line with CRLF");

  const std::string_view request_line = head.substr(0, head.find('\n') + 1);
  if (request_line.size() < 2 || request_line[request_line.size() - 2] != '\r') {
    refuse("the request line does not end in CRLF");
  } else if (request_line.size() >= 3 && (request_line[request_line.size() - 3] == ' ' ||
                                           request_line[request_line.size() - 3] == '\t')) {
    refuse("the request line ends in white space");
  }
  const bool http11 = request_line.find(" HTTP/1.1\r") != std::string_view::npos;
  // httplib keeps an HTTP/1.0 connection only on a "Connection: Keep-Alive" of its exact
  // spelling: the host ends every one after its response, and says so.
  if (request_line.find(" HTTP/1.0\r") != std::string_view::npos) framing.closes = true;
  const std::string_view method = request_line.substr(0, request_line.find(' '));
  check_request_line(request_line, refuse);
  // The methods httplib reads a body for; of any other request it leaves the body unread.
  const bool body_read = method == "POST" || method == "PUT" || method == "PATCH" ||
                         method == "DELETE" || method == "PRI";
  bool two_lengths = false;
  int hosts = 0;
  for (std::size_t start = request_line.size(); start < head.size();) {
    const std::size_t end = head.find('\n', start);
    std::string_view line = head.substr(start, end - start);
    start = end + 1;
    // httplib skips a line that does not end in CRLF, and reads a folded or spaced one
    // as another header: a body the line frames would be read as the next request.
    if (line.empty() || line.back() != '\r') {
      refuse("a header line ends in a bare LF; end every line with CRLF");
      continue;
    }
    line.remove_suffix(1);
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (line.find('\r') != std::string_view::npos) refuse("a header line holds a bare CR");
    if (line.front() == ' ' || line.front() == '\t') {
      refuse("a header line is folded onto the one before (obsolete line folding)");
    }
    if (colon == std::string_view::npos) {
      refuse("a header line has no colon");
      continue;
    }
    const std::string_view name = line.substr(0, colon);
    if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
      refuse("a header name is empty or has white space before its colon");
      continue;
    }
    const std::string_view value = trimmed(line.substr(colon + 1));
    // RFC 9110, section 5.5: a field value with NUL (or another control) must be refused.
    const auto control = std::find_if(line.begin(), line.end(), [](char c) {
      const auto byte = static_cast<unsigned char>(c);
      return (byte < 0x20 && byte != '\t') || byte == 0x7F;
    });
    if (control != line.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(*control));
      refuse("the header " + std::string(name.substr(0, 40)) + " holds the control byte " + hex);
      continue;
    }
    if (equals_ignoring_case(name, "content-length")) {
      const bool number =
          !value.empty() && value.size() <= 18 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!number) {
        refuse("Content-Length \"" + std::string(value.substr(0, 40)) + "\" is not a byte count");
        continue;
      }
      const auto length =
          static_cast<std::size_t>(std::strtoull(std::string(value).c_str(), nullptr, 10));
      if (framing.content_length && *framing.content_length != length) two_lengths = true;
      framing.content_length = length;
    } else if (equals_ignoring_case(name, "transfer-encoding")) {
      if (framing.chunked) {
        refuse("the request has two Transfer-Encoding headers; send chunked once");
      } else if (!equals_ignoring_case(value, "chunked")) {
        refuse("Transfer-Encoding \"" + std::string(value.substr(0, 40)) +
                   "\" is not supported; send the body with Content-Length, or chunked alone",
               501, "http.unsupported_transfer_coding");
      }
      framing.chunked = true;
    } else if (equals_ignoring_case(name, "expect")) {
      framing.expects_continue = equals_ignoring_case(value, "100-continue");
      framing.httplib_continues = value == "100-continue";
    } else if (equals_ignoring_case(name, "connection")) {
      // A list of options: close among them, in any case.
      for (std::size_t at = 0; at <= value.size();) {
        const std::size_t comma = std::min(value.find(',', at), value.size());
        if (equals_ignoring_case(trimmed(value.substr(at, comma - at)), "close")) {
          framing.closes = true;
        }
        at = comma + 1;
      }
    } else if (equals_ignoring_case(name, "host")) {
      ++hosts;
    }
  }
  if (two_lengths) refuse("the request has two different Content-Length headers");
  if (framing.chunked && framing.content_length) {
    refuse("the request has both Content-Length and Transfer-Encoding");
  }
  if (hosts > 1) refuse("the request has more than one Host header");
  if (http11 && hosts == 0) refuse("an HTTP/1.1 request needs a Host header");
  if (!body_read && (framing.chunked || framing.content_length.value_or(0) > 0)) {
    framing.closes = true;
  }
  return framing;
}

}  // namespace lognurse::host
