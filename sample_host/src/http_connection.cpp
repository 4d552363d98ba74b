#include "http_connection.hpp"

#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "connection_gate.hpp"

namespace lognurse::host {

namespace {

thread_local int t_current_socket = -1;
thread_local ConnectionStream* t_current_stream = nullptr;

/// How long a worker waits for a connection's next request before handing the connection
/// to the gate: long enough for a client that sends requests back to back, too short for
/// a slow one to hold a worker.
constexpr std::chrono::milliseconds kPatience{2};

long to_ms(time_t sec, time_t usec) { return static_cast<long>(sec * 1000 + usec / 1000); }

/// Clears the thread's current socket when a request's handling ends, however it ends.
struct CurrentSocket {
  CurrentSocket(int fd, ConnectionStream& stream) {
    t_current_socket = fd;
    t_current_stream = &stream;
  }
  ~CurrentSocket() {
    t_current_socket = -1;
    t_current_stream = nullptr;
  }
};

}  // namespace

int HostHttpListener::current_socket() { return t_current_socket; }

bool HostHttpListener::request_timed_out() {
  return t_current_stream != nullptr && t_current_stream->timed_out();
}

bool HostHttpListener::request_over_limit() {
  return t_current_stream != nullptr && t_current_stream->over_limit();
}

std::string HostHttpListener::request_chunk_problem() {
  return t_current_stream != nullptr ? t_current_stream->chunk_problem() : std::string();
}

std::string HostHttpListener::chunk_refusal(const std::string& problem) {
  return problem +
         "; send each chunk as its size in hex, CRLF, its data and CRLF, and end the body with "
         "0, CRLF, any trailer fields each ending in CRLF, and CRLF";
}

std::string HostHttpListener::take_unread_input() {
  return t_current_stream != nullptr ? t_current_stream->take_buffered() : std::string();
}

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

HostHttpListener::HostHttpListener() = default;

HostHttpListener::~HostHttpListener() { close_connections(); }

void HostHttpListener::start_workers(std::size_t workers, std::size_t body_workers) {
  workers_ = std::make_unique<ConnectionWorkers>(
      workers, [this](std::shared_ptr<ClientConnection> connection) {
        serve(std::move(connection), false);
      });
  body_workers_ = std::make_unique<ConnectionWorkers>(
      body_workers, [this](std::shared_ptr<ClientConnection> connection) {
        serve(std::move(connection), true);
      });
  ConnectionGate::Options options;
  options.max_body_bytes = payload_max_length_;
  options.idle_timeout = std::chrono::seconds(keep_alive_timeout_sec_);
  options.request_timeout =
      std::chrono::milliseconds(to_ms(read_timeout_sec_, read_timeout_usec_));
  gate_ = std::make_unique<ConnectionGate>(
      options, [this](std::shared_ptr<ClientConnection> connection) {
        dispatch(std::move(connection));
      });
  // httplib's own threads only hand accepted connections to the gate.
  new_task_queue = [] { return new httplib::ThreadPool(2); };
}

void HostHttpListener::widen_accept_queue() {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, SOMAXCONN);
}

void HostHttpListener::close_connections() {
  closing_ = true;
  if (gate_) gate_->stop();
  if (workers_) workers_->shutdown();
  if (body_workers_) body_workers_->shutdown();
  gate_.reset();
  workers_.reset();
  body_workers_.reset();
}

void HostHttpListener::dispatch(std::shared_ptr<ClientConnection> connection) {
  ConnectionWorkers& pool = connection->stream.body_left_to_read() ? *body_workers_ : *workers_;
  pool.enqueue(std::move(connection));
}

bool HostHttpListener::process_and_close_socket(socket_t sock) {
  auto connection = std::make_shared<ClientConnection>(
      sock, to_ms(read_timeout_sec_, read_timeout_usec_),
      to_ms(write_timeout_sec_, write_timeout_usec_), keep_alive_max_count_, &closing_);
  if (gate_ && !closing_) gate_->admit(std::move(connection));
  return true;
}

void HostHttpListener::serve(std::shared_ptr<ClientConnection> connection, bool body_worker) {
  ConnectionStream& stream = connection->stream;
  const auto read_timeout =
      std::chrono::milliseconds(to_ms(read_timeout_sec_, read_timeout_usec_));
  // The gate and the queue hand over only connections whose request is buffered.
  while (!closing_ && svr_sock_ != INVALID_SOCKET) {
    // A body larger than the buffer is read here, within what is left of the request's time.
    stream.begin_request(connection->request_started + read_timeout, payload_max_length_);
    bool connection_closed = false;
    bool ok = false;
    {
      CurrentSocket current(connection->fd, stream);
      // httplib then says Connection: close in the response.
      ok = process_request(stream, connection->requests_left == 1 || stream.closes_after(),
                           connection_closed, nullptr);
    }
    stream.end_request();
    --connection->requests_left;
    connection->continue_sent = false;
    if (!ok || connection_closed || stream.must_close() || connection->requests_left == 0) {
      return;
    }
    connection->request_started = ConnectionStream::Clock::now();

    // The next request: served here when it is buffered, or arrives within kPatience, and
    // no other connection waits for a worker; else the connection queues behind those, or
    // waits in the gate. The gate's judgement applies as it does to a request it passes on.
    auto verdict = gate_->judge(*connection);
    if (verdict == ConnectionGate::Verdict::wait &&
        !(body_worker ? body_workers_ : workers_)->backlogged()) {
      if (stream.await_request(kPatience) == ConnectionStream::Arrival::closed) return;
      verdict = gate_->judge(*connection);
    }
    if (verdict == ConnectionGate::Verdict::refused) {
      gate_->linger(std::move(connection));
      return;
    }
    if (verdict == ConnectionGate::Verdict::wait) {
      gate_->admit(std::move(connection));
      return;
    }
    ConnectionWorkers& own = body_worker ? *body_workers_ : *workers_;
    if (stream.body_left_to_read() != body_worker || own.backlogged()) {
      dispatch(std::move(connection));
      return;
    }
  }
}

}  // namespace lognurse::host
