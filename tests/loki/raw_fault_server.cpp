#include "raw_fault_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace lognurse::loki::test {

namespace {

constexpr std::size_t kMaxRequestBytes = 64U << 20U;

void send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

/// Reads one request (headers and a Content-Length body); false on timeout.
bool read_request(int fd, std::string& head, std::string& body) {
  std::string data;
  char buffer[65536];
  std::size_t header_end = std::string::npos;
  std::size_t length = 0;
  for (int idle = 0; idle < 50;) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 100) <= 0) {
      ++idle;
      continue;
    }
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<std::size_t>(n));
    if (data.size() > kMaxRequestBytes) return false;
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      head = data.substr(0, header_end);
      std::string lower = head;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto at = lower.find("content-length:");
      if (at != std::string::npos) length = std::strtoul(lower.c_str() + at + 15, nullptr, 10);
    }
    if (data.size() >= header_end + 4 + length) {
      body = data.substr(header_end + 4, length);
      return true;
    }
  }
  return false;
}

}  // namespace

RawFaultServer::RawFaultServer(std::vector<RawStep> steps) : steps_(std::move(steps)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(listener_);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

RawFaultServer::~RawFaultServer() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listener_);
}

std::string RawFaultServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::vector<RawRequest> RawFaultServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void RawFaultServer::serve() {
  while (!stopping_) {
    pollfd ready{listener_, POLLIN, 0};
    if (::poll(&ready, 1, 50) <= 0) continue;
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) continue;
    handle(client);
  }
}

void RawFaultServer::handle(int client) {
  std::string head;
  std::string body;
  if (!read_request(client, head, body)) {
    ::close(client);
    return;
  }
  RawStep step(RawAction::answer);
  {
    std::lock_guard lock(mutex_);
    step = steps_[std::min(requests_.size(), steps_.size() - 1)];
    requests_.push_back({head.substr(0, head.find("\r\n")), body, step.action, step.status});
  }

  if (step.action == RawAction::reset) {
    linger abort{1, 0};
    ::setsockopt(client, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    ::close(client);
    return;
  }
  std::string answer;
  if (step.action == RawAction::truncate) {
    answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n"
             "Connection: close\r\n\r\n{\"status\":\"succ";
  } else {
    answer = "HTTP/1.1 " + std::to_string(step.status) + " Scripted\r\nConnection: close\r\n" +
             "Content-Length: " + std::to_string(step.body.size()) + "\r\n";
    for (const auto& [name, value] : step.headers) answer += name + ": " + value + "\r\n";
    answer += "\r\n" + step.body;
  }
  send_all(client, answer);
  ::shutdown(client, SHUT_WR);
  ::close(client);
}

}  // namespace lognurse::loki::test
