// Clients that send slowly or not at all hold no worker of the real binary: it keeps
// answering others, cuts a request that does not arrive whole within server.read_timeout,
// and still serves requests that come in pieces or several at once.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "connection_stream.hpp"
#include "process.hpp"

using lognurse::host::declared_content_length;
using lognurse::host::request_head_end;
using lognurse::test::connect_loopback;
using lognurse::test::HostServer;
using lognurse::test::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

/// More connections than the host has workers (8 for requests, 4 for MCP streams, 4 for
/// tails).
constexpr int kManyClients = 64;

const std::string kReady = "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    sent += static_cast<std::size_t>(n);
  }
}

/// Reads until `count` responses with Content-Length bodies are whole, the peer closes, or
/// the socket's receive timeout passes.
std::string read_responses(int fd, int count) {
  std::string bytes;
  char buffer[4096];
  auto whole = [&] {
    std::size_t at = 0;
    for (int i = 0; i < count; ++i) {
      const std::size_t head = bytes.find("\r\n\r\n", at);
      if (head == std::string::npos) return false;
      const auto length = declared_content_length(std::string_view(bytes).substr(at, head + 4 - at));
      at = head + 4 + length.value_or(0);
      if (at > bytes.size()) return false;
    }
    return true;
  };
  while (!whole()) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  return bytes;
}

/// Reads until the peer closes or the receive timeout passes; true when it closed.
bool read_until_closed(int fd, std::string& bytes) {
  char buffer[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return true;
    if (n < 0) return false;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A host whose server.read_timeout is `read_timeout`.
struct SlowClientHost {
  explicit SlowClientHost(const std::string& read_timeout)
      : server(
            [&] {
              std::ofstream(dir.file("host.yaml")) << "server:\n  read_timeout: " << read_timeout
                                                   << "\n";
              return std::vector<std::string>{"--data-dir", dir.file("data")};
            }(),
            {"--config", dir.file("host.yaml")}) {}
  TempDir dir;
  HostServer server;
};

struct Sockets {
  std::vector<int> fds;
  ~Sockets() {
    for (int fd : fds) ::close(fd);
  }
};

}  // namespace

TEST_CASE("the end of a request head is found after CRLF or LF blank lines only") {
  CHECK(request_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody") == 27);
  CHECK(request_head_end("GET / HTTP/1.1\nHost: a\n\nbody") == 24);
  CHECK(request_head_end("GET / HTTP/1.1\r\nHost: a\r\n") == std::string_view::npos);
  CHECK(request_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r") == std::string_view::npos);
  CHECK(request_head_end("") == std::string_view::npos);
}

TEST_CASE("a request head's Content-Length is read only when it is the whole story") {
  CHECK(declared_content_length("POST / HTTP/1.1\r\ncontent-LENGTH:  12 \r\n\r\n") == 12U);
  CHECK(declared_content_length("POST / HTTP/1.1\r\nHost: a\r\n\r\n") == std::nullopt);
  CHECK(declared_content_length("POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n") ==
        std::nullopt);
  CHECK(declared_content_length("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == std::nullopt);
  CHECK(declared_content_length(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        std::nullopt);
  // The request line is no header, whatever it looks like.
  CHECK(declared_content_length("Content-Length: 5\r\n\r\n") == std::nullopt);
}

TEST_CASE("the host answers while more clients than it has workers hold half-sent heads") {
  SlowClientHost host("20s");
  Sockets slow;
  // All connect at once: with httplib's accept queue of 5, most would wait for the client's
  // retry a second later.
  const auto connecting = Clock::now();
  for (int i = 0; i < kManyClients; ++i) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    slow.fds.push_back(fd);
    send_all(fd, "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
  }
  CHECK(seconds_since(connecting) < 0.9);
  // Each of them would have held a worker until the 20 s read timeout.
  const auto start = Clock::now();
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);
  send_all(fd, kReady);
  const std::string response = read_responses(fd, 1);
  ::close(fd);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(seconds_since(start) < 5);
}

TEST_CASE("idle keep-alive connections hold no worker") {
  SlowClientHost host("20s");
  Sockets idle;
  for (int i = 0; i < kManyClients; ++i) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    idle.fds.push_back(fd);
    send_all(fd, kReady);
    REQUIRE(read_responses(fd, 1).rfind("HTTP/1.1 200", 0) == 0);
  }
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);
  send_all(fd, kReady);
  CHECK(read_responses(fd, 1).rfind("HTTP/1.1 200", 0) == 0);
  ::close(fd);
  // And the idle ones are still served when they speak again.
  send_all(idle.fds.front(), kReady);
  CHECK(read_responses(idle.fds.front(), 1).rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("a head dribbled a byte at a time gets 408 at server.read_timeout") {
  SlowClientHost host("1s");
  const int fd = connect_loopback(host.server.port(), 10);
  REQUIRE(fd >= 0);
  const std::string head = "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: 0123456789\r\n\r\n";
  const auto start = Clock::now();
  std::size_t sent = 0;
  // A byte every 100 ms: each read would have waited far less than any per-read timeout.
  for (; sent < head.size() && seconds_since(start) < 3; ++sent) {
    if (::send(fd, head.data() + sent, 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string response;
  const bool closed = read_until_closed(fd, response);
  const double elapsed = seconds_since(start);
  ::close(fd);
  CHECK(sent < head.size());
  CHECK(closed);
  CHECK(response.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
  CHECK(response.find("within the server's read timeout of 1s; send each request at once, "
                      "or raise server.read_timeout") != std::string::npos);
  CHECK(elapsed >= 1.0);
  CHECK(elapsed < 4.0);
}

TEST_CASE("a connection that sends nothing is closed after the keep-alive timeout") {
  SlowClientHost host("20s");
  const int fd = connect_loopback(host.server.port(), 15);
  REQUIRE(fd >= 0);
  const auto start = Clock::now();
  std::string response;
  CHECK(read_until_closed(fd, response));
  ::close(fd);
  CHECK(response.empty());
  CHECK(seconds_since(start) >= 4.5);  // httplib's keep-alive timeout, 5 s
}

TEST_CASE("a body slower than server.read_timeout is cut off") {
  SlowClientHost host("1s");
  const int fd = connect_loopback(host.server.port(), 10);
  REQUIRE(fd >= 0);
  const auto start = Clock::now();
  // Larger than the connection's buffer, so a worker reads it.
  send_all(fd, "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: 100000\r\n\r\n{\"streams\":");
  std::string response;
  const bool closed = read_until_closed(fd, response);
  ::close(fd);
  CHECK(closed);
  CHECK(seconds_since(start) < 4.0);
  CHECK(response.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
  CHECK(response.find("\"code\":\"http.request_timeout\"") != std::string::npos);
  CHECK(response.find("read timeout of 1s") != std::string::npos);
}

TEST_CASE("requests that come in pieces, or several at once, are all served in order") {
  SlowClientHost host("20s");
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);

  send_all(fd, "GET /rea");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_all(fd, "dy HTTP/1.1\r\nHost: 127.0.0.1\r");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_all(fd, "\n\r\n");
  CHECK(read_responses(fd, 1).rfind("HTTP/1.1 200", 0) == 0);

  // A body that follows its head later, and three requests in one write.
  send_all(fd, "POST /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: 2\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_all(fd, "{}" + kReady + "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + kReady);
  const std::string responses = read_responses(fd, 4);
  ::close(fd);
  const auto first = responses.find("HTTP/1.1 ");
  REQUIRE(first != std::string::npos);
  CHECK(responses.substr(first, 12) == "HTTP/1.1 400");  // the query tool needs a query
  const auto second = responses.find("HTTP/1.1 ", first + 1);
  const auto third = responses.find("HTTP/1.1 ", second + 1);
  const auto fourth = responses.find("HTTP/1.1 ", third + 1);
  REQUIRE(fourth != std::string::npos);
  CHECK(responses.substr(second, 12) == "HTTP/1.1 200");
  CHECK(responses.substr(third, 12) == "HTTP/1.1 404");
  CHECK(responses.substr(fourth, 12) == "HTTP/1.1 200");
}
