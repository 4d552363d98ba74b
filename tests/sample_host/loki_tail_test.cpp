// Loki's tail WebSocket of `sample_host serve`, read by a minimal RFC 6455 client on a real
// loopback socket.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "loki_tail.hpp"
#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

/// A loopback connection with a 5 s receive timeout, closed on destruction.
class Socket {
public:
  explicit Socket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~Socket() { ::close(fd_); }

  void send(const std::string& data) {
    REQUIRE(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(data.size()));
  }

  /// Exactly `size` bytes, or fewer when the peer closes or the timeout passes.
  std::string read(std::size_t size) {
    std::string out;
    while (out.size() < size) {
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, std::min(sizeof buffer, size - out.size()), 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

  /// The response head, up to and including the blank line.
  std::string read_head() {
    std::string head;
    while (head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos) {
      const std::string byte = read(1);
      if (byte.empty()) break;
      head += byte;
    }
    return head;
  }

  /// The payload of the next text frame, skipping pings, or "" when none arrives.
  std::string read_text_frame() {
    std::string header = read(2);
    while (header == std::string("\x89\x00", 2)) header = read(2);
    if (header.size() < 2) return "";
    REQUIRE(static_cast<unsigned char>(header[0]) == 0x81);
    std::uint64_t size = static_cast<unsigned char>(header[1]) & 0x7F;
    if (size == 126 || size == 127) {
      const std::string extended = read(size == 126 ? 2 : 8);
      size = 0;
      for (unsigned char c : extended) size = (size << 8) | c;
    }
    return read(size);
  }

private:
  int fd_;
};

std::string handshake(const std::string& target) {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

void push(int port, const std::string& line, std::int64_t ts) {
  const json body = {
      {"streams",
       json::array({{{"stream", {{"service_name", "api"}}},
                     {"values", json::array({json::array({std::to_string(ts), line})})}}})}};
  auto response = http_request(port, "POST", "/loki/api/v1/push", body.dump(),
                               {{"Content-Type", "application/json"}});
  REQUIRE(response.status == 204);
}

}  // namespace

TEST_CASE("the WebSocket accept key is RFC 6455's") {
  CHECK(lognurse::host::websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") ==
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("tail streams the matching entries already stored, then new ones as they arrive") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  const std::int64_t now = lognurse::now_ns();
  push(port, "before the tail", now - 30 * lognurse::kNanosPerSecond);

  Socket socket(port);
  socket.send(handshake("/loki/api/v1/tail?query=%7Bservice_name%3D%22api%22%7D&limit=10"));
  const std::string head = socket.read_head();
  INFO(head);
  REQUIRE(head.rfind("HTTP/1.1 101 ", 0) == 0);
  CHECK(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(head.find("Upgrade: websocket\r\n") != std::string::npos);

  const json first = json::parse(socket.read_text_frame());
  CHECK(first ==
        json({{"streams",
               {{{"stream", {{"service_name", "api"}}},
                 {"values",
                  json::array({json::array({std::to_string(now - 30 * lognurse::kNanosPerSecond),
                                            "before the tail"})})}}}}}));

  const std::int64_t later = lognurse::now_ns();
  push(port, "after the tail started", later);
  const json second = json::parse(socket.read_text_frame());
  CHECK(second["streams"][0]["values"] ==
        json::array({json::array({std::to_string(later), "after the tail started"})}));

  // The server stops promptly while the tail is still open, and the tail's socket then ends.
  const auto stopping = std::chrono::steady_clock::now();
  CHECK(server.stop() == 0);
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(3));
  CHECK(socket.read(1).empty());
}

TEST_CASE("tails are limited in number and a closed one frees its place") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  const std::string target = "/loki/api/v1/tail?query=%7Bservice_name%3D%22none%22%7D";
  auto open_tail = [&](Socket& socket) {
    socket.send(handshake(target));
    return socket.read_head();
  };
  {
    std::vector<std::unique_ptr<Socket>> tails;
    for (int i = 0; i < lognurse::host::kMaxConcurrentTails; ++i) {
      tails.push_back(std::make_unique<Socket>(port));
      REQUIRE(open_tail(*tails.back()).rfind("HTTP/1.1 101 ", 0) == 0);
    }
    Socket refused(port);
    const std::string head = open_tail(refused);
    CHECK(head.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(refused.read(67) ==
          "max concurrent tail requests limit exceeded, count > limit (5 > 4)\n");
  }
  // The closed tails notice on their next ping; a new tail gets a place within seconds.
  bool reopened = false;
  for (int attempt = 0; attempt < 10 && !reopened; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Socket again(port);
    reopened = open_tail(again).rfind("HTTP/1.1 101 ", 0) == 0;
  }
  CHECK(reopened);
}

TEST_CASE("tail refuses a request that is not a WebSocket or asks for too long a delay") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  auto plain = http_request(port, "GET", "/loki/api/v1/tail?query=%7Ba%3D%22b%22%7D");
  CHECK(plain.status == 400);
  CHECK(plain.body ==
        "tail is a WebSocket endpoint: send Upgrade: websocket and Sec-WebSocket-Key\n");

  Socket socket(port);
  socket.send(handshake("/loki/api/v1/tail?query=%7Ba%3D%22b%22%7D&delay_for=6"));
  const std::string head = socket.read_head();
  CHECK(head.rfind("HTTP/1.1 400", 0) == 0);
}
