#include "http_connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

namespace lognurse::host {

namespace {

thread_local int t_current_socket = -1;

/// How often a wait for the next request checks whether the listener stopped.
constexpr int kStopCheckMs = 50;

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

long to_ms(time_t sec, time_t usec) { return static_cast<long>(sec * 1000 + usec / 1000); }

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

/// httplib's Stream over one connection: reads through a buffer that lives as long as the
/// connection (so bytes read ahead belong to the next request, not lost), waits for reads
/// and writes within the listener's timeouts.
class ConnectionStream final : public httplib::Stream {
public:
  ConnectionStream(int fd, long read_timeout_ms, long write_timeout_ms)
      : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override {
    return buffered() > 0 || wait_for(fd_, POLLIN, read_timeout_ms_) > 0;
  }

  bool is_writable() const override { return wait_for(fd_, POLLOUT, write_timeout_ms_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (buffered() == 0) {
      if (!is_readable()) return -1;
      const ssize_t n = receive(buffer_.data(), buffer_.size());
      if (n <= 0) return n;
      offset_ = 0;
      filled_ = static_cast<std::size_t>(n);
    }
    const std::size_t n = std::min(size, buffered());
    std::copy_n(buffer_.data() + offset_, n, ptr);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    while (true) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
      numeric_address(address, size, ip, port);
    }
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
      numeric_address(address, size, ip, port);
    }
  }

  socket_t socket() const override { return fd_; }

  std::size_t buffered() const { return filled_ - offset_; }

private:
  ssize_t receive(char* ptr, std::size_t size) {
    while (true) {
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  int fd_;
  long read_timeout_ms_;
  long write_timeout_ms_;
  std::vector<char> buffer_ = std::vector<char>(16 * 1024);
  std::size_t offset_ = 0;
  std::size_t filled_ = 0;
};

/// Clears the thread's current socket when a request's handling ends, however it ends.
struct CurrentSocket {
  explicit CurrentSocket(int fd) { t_current_socket = fd; }
  ~CurrentSocket() { t_current_socket = -1; }
};

}  // namespace

int HostHttpListener::current_socket() { return t_current_socket; }

void HostHttpListener::frame_request_body(httplib::Request& req) {
  if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
    req.headers.emplace("Content-Length", "0");
  }
  const auto type = req.headers.find("Content-Type");
  if (type != req.headers.end() &&
      type->second.rfind("application/x-www-form-urlencoded", 0) == 0) {
    std::string value = type->second;
    req.headers.erase(type);
    req.headers.emplace(kFormContentTypeHeader, std::move(value));
  }
}

bool HostHttpListener::has_form_body(const httplib::Request& req) {
  return req.get_header_value(kFormContentTypeHeader)
             .rfind("application/x-www-form-urlencoded", 0) == 0 ||
         req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
}

bool HostHttpListener::process_and_close_socket(socket_t sock) {
  ConnectionStream stream(sock, to_ms(read_timeout_sec_, read_timeout_usec_),
                          to_ms(write_timeout_sec_, write_timeout_usec_));
  const long keep_alive_ms = static_cast<long>(keep_alive_timeout_sec_) * 1000;
  bool ok = false;
  for (std::size_t count = keep_alive_max_count_; count > 0; --count) {
    // The next request: at once when its bytes are already read, else when they arrive,
    // within the keep-alive timeout, unless the listener stops meanwhile.
    bool arrived = stream.buffered() > 0;
    for (long waited = 0; !arrived && waited < keep_alive_ms; waited += kStopCheckMs) {
      if (svr_sock_ == INVALID_SOCKET) break;
      const long slice = std::min<long>(kStopCheckMs, keep_alive_ms - waited);
      const int ready = wait_for(sock, POLLIN, slice);
      if (ready < 0) break;
      arrived = ready > 0;
    }
    if (!arrived || svr_sock_ == INVALID_SOCKET) break;

    bool connection_closed = false;
    {
      CurrentSocket current(sock);
      ok = process_request(stream, count == 1, connection_closed, nullptr);
    }
    if (!ok || connection_closed) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace lognurse::host
