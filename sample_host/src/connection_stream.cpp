#include "connection_stream.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lognurse::host {

namespace {

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

}  // namespace

ConnectionStream::ConnectionStream(int fd, long read_timeout_ms, long write_timeout_ms)
    : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

long ConnectionStream::wait_budget_ms() const {
  if (!deadline_) return read_timeout_ms_;
  // Rounded up, so that a wait that ends finds the deadline passed.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline_ - Clock::now()).count();
  return std::clamp<long>(left, 0, read_timeout_ms_);
}

void ConnectionStream::begin_request(Clock::time_point deadline) {
  deadline_ = deadline;
  timed_out_ = false;
  broken_ = false;
}

bool ConnectionStream::is_readable() const {
  if (buffered() > 0) return true;
  const long budget = wait_budget_ms();
  if (budget > 0 && wait_for(fd_, POLLIN, budget) > 0) return true;
  if (deadline_ && Clock::now() >= *deadline_) timed_out_ = true;
  return false;
}

bool ConnectionStream::is_writable() const { return wait_for(fd_, POLLOUT, write_timeout_ms_) > 0; }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (buffered() == 0) {
    const ssize_t n = is_readable() ? receive(buffer_.data(), buffer_.size(), 0) : -1;
    if (n <= 0) {
      broken_ = true;
      return n;
    }
    offset_ = 0;
    filled_ = static_cast<std::size_t>(n);
  }
  const std::size_t n = std::min(size, buffered());
  std::copy_n(buffer_.data() + offset_, n, ptr);
  offset_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  while (true) {
    const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    if (n >= 0 || errno != EINTR) return n;
  }
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
  while (!request_ready()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0 || wait_for(fd_, POLLIN, left) <= 0) return Arrival::pending;
    const ssize_t n = fill_available();
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      return Arrival::closed;
    }
  }
  return Arrival::ready;
}

bool ConnectionStream::request_ready() const {
  if (buffered() == 0) return false;
  if (buffered() == buffer_.size()) return true;
  const std::string_view bytes(buffer_.data() + offset_, buffered());
  const std::size_t head = request_head_end(bytes);
  if (head == std::string_view::npos) return false;
  const auto length = declared_content_length(bytes.substr(0, head));
  if (!length || *length > buffer_.size() - head) return true;
  return bytes.size() - head >= *length;
}

ssize_t ConnectionStream::receive(char* ptr, std::size_t size, int flags) {
  while (true) {
    const ssize_t n = ::recv(fd_, ptr, size, flags);
    if (n >= 0 || errno != EINTR) return n;
  }
}

std::size_t request_head_end(std::string_view bytes) {
  for (std::size_t at = bytes.find('\n'); at != std::string_view::npos;
       at = bytes.find('\n', at + 1)) {
    if (at + 1 < bytes.size() && bytes[at + 1] == '\n') return at + 2;
    if (at + 2 < bytes.size() && bytes[at + 1] == '\r' && bytes[at + 2] == '\n') return at + 3;
  }
  return std::string_view::npos;
}

std::optional<std::size_t> declared_content_length(std::string_view head) {
  std::optional<std::size_t> length;
  std::size_t start = head.find('\n');  // the request line has no headers
  while (start != std::string_view::npos && start + 1 < head.size()) {
    const std::size_t end = head.find('\n', start + 1);
    const std::string_view line =
        head.substr(start + 1, end == std::string_view::npos ? head.npos : end - start - 1);
    start = end;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    if (equals_ignoring_case(name, "transfer-encoding")) return std::nullopt;
    if (!equals_ignoring_case(name, "content-length")) continue;
    const std::string_view value = trimmed(line.substr(colon + 1));
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    length = static_cast<std::size_t>(std::strtoull(std::string(value).c_str(), nullptr, 10));
  }
  return length;
}

}  // namespace lognurse::host
