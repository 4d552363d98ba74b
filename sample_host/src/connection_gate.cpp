#include "connection_gate.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"

namespace lognurse::host {

namespace {

/// How often the gate looks for connections past their deadline.
constexpr std::chrono::milliseconds kSweepInterval{100};

/// How long, and for how many bytes, a refused connection is drained before it is closed.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kLingerBytes = 64 * 1024 * 1024;

/// Writes a whole response if the socket takes it at once; the connection closes after it
/// anyway, so a client that does not read it loses nothing but the reason.
void send_refusal(int fd, int status, const char* reason, const std::string& code,
                  const std::string& message) {
  const std::string body =
      nlohmann::json{{"status", "error"}, {"error", {{"code", code}, {"message", message}}}}
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                               "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                               "Content-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace

std::string request_timeout_message(std::chrono::milliseconds timeout) {
  return "the request did not arrive whole within the server's read timeout of " +
         format_duration(static_cast<std::int64_t>(timeout.count()) * 1'000'000) +
         "; send each request at once, or raise server.read_timeout";
}

ClientConnection::ClientConnection(int socket, long read_timeout_ms, long write_timeout_ms,
                                   std::size_t requests_allowed,
                                   const std::atomic<bool>* stopping)
    : fd(socket), stream(socket, read_timeout_ms, write_timeout_ms, stopping),
      requests_allowed(requests_allowed), requests_left(requests_allowed),
      request_started(ConnectionStream::Clock::now()) {}

ClientConnection::~ClientConnection() {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

ConnectionWorkers::ConnectionWorkers(std::size_t threads, Serve serve) : serve_(std::move(serve)) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

ConnectionWorkers::~ConnectionWorkers() { shutdown(); }

void ConnectionWorkers::enqueue(std::shared_ptr<ClientConnection> connection) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;  // closes it
    queue_.push_back(std::move(connection));
  }
  changed_.notify_one();
}

bool ConnectionWorkers::backlogged() const {
  std::lock_guard lock(mutex_);
  return !queue_.empty();
}

void ConnectionWorkers::shutdown() {
  std::deque<std::shared_ptr<ClientConnection>> closing;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    closing.swap(queue_);
  }
  changed_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void ConnectionWorkers::run() {
  for (;;) {
    std::shared_ptr<ClientConnection> connection;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      connection = std::move(queue_.front());
      queue_.pop_front();
    }
    serve_(std::move(connection));
  }
}

ConnectionGate::ConnectionGate(Options options, Dispatch dispatch)
    : options_(options), dispatch_(std::move(dispatch)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = wake_fd_;
  if (epoll_fd_ < 0 || wake_fd_ < 0 ||
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) {
    const int error = errno;
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    throw std::system_error(error, std::generic_category(),
                            "the HTTP listener cannot watch its connections (epoll)");
  }
  thread_ = std::thread([this] { run(); });
}

ConnectionGate::~ConnectionGate() {
  stop();
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void ConnectionGate::admit(std::shared_ptr<ClientConnection> connection) {
  std::unique_lock lock(mutex_);
  if (stopped_) return;
  const Verdict verdict = judge(*connection);
  if (verdict == Verdict::refused) {
    linger_locked(std::move(connection));
    return;
  }
  if (verdict == Verdict::dispatch) {
    lock.unlock();
    dispatch_(std::move(connection));
    return;
  }
  if (waiting_.size() >= options_.max_waiting) {
    // A client takes the close of an idle keep-alive connection in its stride and sends
    // its next request on a new one, which may find room; a 503 here would fail that
    // request.
    if (connection->returning() && connection->stream.buffered() == 0) return;
    send_refusal(connection->fd, 503, "Service Unavailable", "http.too_many_connections",
                 "the server has " + std::to_string(options_.max_waiting) +
                     " connections waiting for their requests already; retry later");
    return;
  }
  Waiting entry;
  entry.started = connection->stream.buffered() > 0;
  entry.deadline = entry.started ? connection->request_started + options_.request_timeout
                                 : ConnectionStream::Clock::now() + options_.idle_timeout;
  entry.connection = std::move(connection);
  watch_locked(std::move(entry));
}

void ConnectionGate::watch_locked(Waiting entry) {
  const int fd = entry.connection->fd;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return;  // closes it
  waiting_.emplace(fd, std::move(entry));
}

void ConnectionGate::linger(std::shared_ptr<ClientConnection> connection) {
  std::lock_guard lock(mutex_);
  if (!stopped_) linger_locked(std::move(connection));
}

void ConnectionGate::linger_locked(std::shared_ptr<ClientConnection> connection) {
  ::shutdown(connection->fd, SHUT_WR);  // the refusal is sent whole; the client sees its end
  Waiting entry;
  entry.draining = true;
  entry.deadline = ConnectionStream::Clock::now() + kLingerTime;
  entry.connection = std::move(connection);
  watch_locked(std::move(entry));
}

ConnectionGate::Verdict ConnectionGate::judge(ClientConnection& connection) const {
  ConnectionStream& stream = connection.stream;
  stream.skip_blank_lines();
  RequestFraming framing = frame_request(stream.buffered_bytes());
  if (framing.whole_head() && stream.strip_absolute_target()) {
    framing = frame_request(stream.buffered_bytes());
  }
  if (!framing.whole_head()) {
    if (!stream.full()) return Verdict::wait;
    send_refusal(connection.fd, 431, "Request Header Fields Too Large", "http.head_too_large",
                 "the request head is over " + std::to_string(ConnectionStream::kBufferBytes) +
                     " bytes; send fewer or shorter headers");
    return Verdict::refused;
  }
  if (!framing.problem.empty()) {
    if (framing.problem_status == 501) {
      send_refusal(connection.fd, 501, "Not Implemented", framing.problem_code, framing.problem);
    } else if (framing.problem_status == 505) {
      send_refusal(connection.fd, 505, "HTTP Version Not Supported", framing.problem_code,
                   framing.problem);
    } else {
      send_refusal(connection.fd, 400, "Bad Request", framing.problem_code,
                   framing.problem + "; the request cannot be read safely");
    }
    return Verdict::refused;
  }
  if (framing.content_length && *framing.content_length > options_.max_body_bytes) {
    send_refusal(connection.fd, 413, "Payload Too Large", "http.body_too_large",
                 "the request body is over the server.max_body_bytes limit of " +
                     std::to_string(options_.max_body_bytes) + " bytes; send smaller batches");
    return Verdict::refused;
  }
  const bool ready = stream.request_ready();
  // A client that asked first must be told to send its body: here, when the gate waits for
  // it, or when httplib, which answers only the exact lower-case value, would not.
  if (framing.expects_continue && !connection.continue_sent &&
      (!ready || !framing.httplib_continues)) {
    connection.continue_sent = true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    (void)::send(connection.fd, kContinue.data(), kContinue.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (framing.httplib_continues) stream.mark_expectation_answered();
  }
  return ready ? Verdict::dispatch : Verdict::wait;
}

void ConnectionGate::stop() {
  std::unordered_map<int, Waiting> closing;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    closing.swap(waiting_);
  }
  const std::uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  // Each connection closes its socket as `closing` goes.
}

void ConnectionGate::run() {
  std::vector<epoll_event> events(256);
  auto next_sweep = ConnectionStream::Clock::now() + kSweepInterval;
  for (;;) {
    const int count = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                   static_cast<int>(kSweepInterval.count()));
    for (int i = 0; i < count; ++i) {
      if (events[static_cast<std::size_t>(i)].data.fd == wake_fd_) {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        continue;
      }
      on_readable(events[static_cast<std::size_t>(i)].data.fd);
    }
    const auto now = ConnectionStream::Clock::now();
    if (now >= next_sweep) {
      expire(now);
      next_sweep = now + kSweepInterval;
    }
  }
}

void ConnectionGate::on_readable(int fd) {
  std::shared_ptr<ClientConnection> ready;
  {
    std::lock_guard lock(mutex_);
    const auto found = waiting_.find(fd);
    if (found == waiting_.end()) return;
    Waiting& entry = found->second;
    ClientConnection& connection = *entry.connection;
    if (entry.draining) {
      char dropped[16 * 1024];
      while (true) {
        const ssize_t n = ::recv(fd, dropped, sizeof dropped, MSG_DONTWAIT);
        if (n > 0 && (entry.dropped += static_cast<std::size_t>(n)) < kLingerBytes) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        break;  // the client is done, or has sent enough
      }
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      waiting_.erase(found);
      return;
    }
    Verdict verdict = Verdict::wait;
    bool closed = false;
    while (verdict == Verdict::wait) {
      const ssize_t n = connection.stream.fill_available();
      if (n <= 0) {
        // A client that closes before its request is whole has nothing to be answered.
        closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        break;
      }
      verdict = judge(connection);
      if (!entry.started && connection.stream.buffered() > 0) {
        entry.started = true;
        connection.request_started = ConnectionStream::Clock::now();
        entry.deadline = connection.request_started + options_.request_timeout;
      }
    }
    if (verdict == Verdict::wait && !closed) return;
    if (verdict == Verdict::refused && !closed) {
      ::shutdown(fd, SHUT_WR);
      entry.draining = true;
      entry.deadline = ConnectionStream::Clock::now() + kLingerTime;
      return;
    }
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    if (verdict == Verdict::dispatch) ready = std::move(entry.connection);
    waiting_.erase(found);
  }
  if (ready) dispatch_(std::move(ready));
}

void ConnectionGate::expire(ConnectionStream::Clock::time_point now) {
  std::vector<std::shared_ptr<ClientConnection>> late;
  std::vector<std::shared_ptr<ClientConnection>> idle;
  {
    std::lock_guard lock(mutex_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
      const bool late_request = it->second.started && !it->second.draining;
      (late_request ? late : idle).push_back(std::move(it->second.connection));
      it = waiting_.erase(it);
    }
  }
  for (const auto& connection : late) {
    send_refusal(connection->fd, 408, "Request Timeout", "http.request_timeout",
                 request_timeout_message(options_.request_timeout));
  }
  // Both lists close their connections as they go.
}

}  // namespace lognurse::host
