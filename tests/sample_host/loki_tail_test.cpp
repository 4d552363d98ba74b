// Loki's tail WebSocket of `sample_host serve`, read by a minimal RFC 6455 client on a real
// loopback socket.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "connection_stream.hpp"
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
  explicit Socket(int port) : fd_(lognurse::test::connect_loopback(port, 5)) {
    REQUIRE(fd_ >= 0);
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

  /// The next frame the server sends, skipping its empty keep-alive pings; opcode -1 when
  /// none arrives. Server frames are never masked.
  struct Frame {
    int opcode = -1;
    std::string payload;
  };
  Frame read_frame() {
    std::string header = read(2);
    while (header == std::string("\x89\x00", 2)) header = read(2);
    if (header.size() < 2) return {};
    REQUIRE((static_cast<unsigned char>(header[0]) & 0x80) != 0);
    REQUIRE((static_cast<unsigned char>(header[1]) & 0x80) == 0);
    std::uint64_t size = static_cast<unsigned char>(header[1]) & 0x7F;
    if (size == 126 || size == 127) {
      const std::string extended = read(size == 126 ? 2 : 8);
      size = 0;
      for (unsigned char c : extended) size = (size << 8) | c;
    }
    return {static_cast<unsigned char>(header[0]) & 0x0F, read(size)};
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

/// A client frame: FIN (unless `final` is false), the opcode, the mask bit and key, the length
/// in its shortest form, and the payload masked with the key.
std::string client_frame(int opcode, const std::string& payload, bool final = true) {
  static const unsigned char key[4] = {0x37, 0xFA, 0x21, 0x3D};
  std::string frame(1, static_cast<char>((final ? 0x80 : 0x00) | opcode));
  if (payload.size() < 126) {
    frame += static_cast<char>(0x80 | payload.size());
  } else {
    REQUIRE(payload.size() <= 0xFFFF);
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(payload.size() >> 8);
    frame += static_cast<char>(payload.size() & 0xFF);
  }
  frame.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    frame += static_cast<char>(payload[i] ^ key[i % 4]);
  }
  return frame;
}

std::string close_payload(int code, const std::string& reason) {
  return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)} + reason;
}

/// The status code of a close frame's payload, or -1.
int close_code(const std::string& payload) {
  if (payload.size() < 2) return -1;
  return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
}

const std::string kNoMatchTail = "/loki/api/v1/tail?query=%7Bservice_name%3D%22none%22%7D";

/// A socket whose tail handshake succeeded.
std::unique_ptr<Socket> open_tail(int port, const std::string& target = kNoMatchTail) {
  auto socket = std::make_unique<Socket>(port);
  socket->send(handshake(target));
  const std::string head = socket->read_head();
  INFO(head);
  REQUIRE(head.rfind("HTTP/1.1 101 ", 0) == 0);
  return socket;
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
  REQUIRE(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  CHECK(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(head.find("Upgrade: websocket\r\n") != std::string::npos);
  CHECK(head.find("Connection: Upgrade\r\n") != std::string::npos);
  // A 1xx response has no content: no length, type or keep-alive terms.
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(head.find("Content-Type") == std::string::npos);
  CHECK(head.find("Keep-Alive") == std::string::npos);

  const json first = json::parse(socket.read_text_frame());
  CHECK(first ==
        json({{"streams",
               {{{"stream", {{"detected_level", "unknown"}, {"service_name", "api"}}},
                 {"values",
                  json::array({json::array({std::to_string(now - 30 * lognurse::kNanosPerSecond),
                                            "before the tail"})})}}}}}));

  const std::int64_t later = lognurse::now_ns();
  push(port, "after the tail started", later);
  const json second = json::parse(socket.read_text_frame());
  CHECK(second["streams"][0]["values"] ==
        json::array({json::array({std::to_string(later), "after the tail started"})}));
  CHECK(second["streams"][0]["stream"]["detected_level"] == "unknown");

  // The server stops promptly while the tail is still open, and the tail's socket then ends.
  const auto stopping = std::chrono::steady_clock::now();
  CHECK(server.stop() == 0);
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(3));
  const auto going_away = socket.read_frame();
  CHECK(going_away.opcode == 0x8);
  CHECK(close_code(going_away.payload) == 1001);
  CHECK(socket.read(1).empty());
}

namespace {

/// Pushes `lines` to the stream {service_name="api"} in one request, the i-th at `times[i]`.
void push_many(int port, const std::vector<std::string>& lines,
               const std::vector<std::int64_t>& times) {
  json values = json::array();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    values.push_back(json::array({std::to_string(times[i]), lines[i]}));
  }
  const json body = {{"streams", json::array({{{"stream", {{"service_name", "api"}}},
                                               {"values", std::move(values)}}})}};
  auto response = http_request(port, "POST", "/loki/api/v1/push", body.dump(),
                               {{"Content-Type", "application/json"}});
  REQUIRE(response.status == 204);
}

/// The lines of the tail's next messages until at least `count` lines came or the connection
/// ended, with the number of entries in the largest message. (The tail pings an idle client
/// every second, so a read does not time out while the connection is open.)
std::vector<std::string> read_lines(Socket& socket, std::size_t count,
                                    std::size_t& largest_message) {
  std::vector<std::string> lines;
  while (lines.size() < count) {
    const std::string text = socket.read_text_frame();
    if (text.empty()) break;
    std::size_t in_message = 0;
    const json message = json::parse(text);
    for (const auto& stream : message["streams"]) {
      for (const auto& value : stream["values"]) {
        lines.push_back(value[1].get<std::string>());
        ++in_message;
      }
    }
    largest_message = std::max(largest_message, in_message);
  }
  return lines;
}

std::vector<std::string> numbered(const std::string& prefix, std::size_t from, std::size_t to) {
  std::vector<std::string> lines;
  for (std::size_t i = from; i < to; ++i) lines.push_back(prefix + std::to_string(i));
  return lines;
}

}  // namespace

TEST_CASE("tail's limit bounds the first batch to the newest entries, not what arrives later") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  const std::int64_t now = lognurse::now_ns();
  std::vector<std::int64_t> times;
  for (int i = 0; i < 30; ++i) times.push_back(now - (60 - i) * lognurse::kNanosPerSecond);
  push_many(port, numbered("old ", 0, 30), times);

  auto socket = open_tail(port, "/loki/api/v1/tail?query=%7Bservice_name%3D%22api%22%7D&limit=10");
  std::size_t largest = 0;
  CHECK(read_lines(*socket, 10, largest) == numbered("old ", 20, 30));

  // 250 entries in one push, more than the limit: every one arrives, once, oldest first, in
  // messages of at most 100 entries as Loki sends them.
  const std::int64_t later = lognurse::now_ns();
  times.clear();
  for (int i = 0; i < 250; ++i) times.push_back(later + i);
  push_many(port, numbered("new ", 0, 250), times);
  largest = 0;
  CHECK(read_lines(*socket, 250, largest) == numbered("new ", 0, 250));
  CHECK(largest == 100);
}

TEST_CASE("tail pages through entries that share a timestamp at a page's end exactly once") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  auto socket = open_tail(port, "/loki/api/v1/tail?query=%7Bservice_name%3D%22api%22%7D");

  // 600 entries at one nanosecond and 800 at the next: the tail reads the backend in pages of
  // 1000 entries, so the first page ends inside the second timestamp.
  const std::int64_t at = lognurse::now_ns() + lognurse::kNanosPerSecond / 2;
  std::vector<std::string> lines = numbered("a ", 0, 600);
  std::vector<std::int64_t> times(600, at);
  for (const auto& line : numbered("b ", 0, 800)) lines.push_back(line);
  times.resize(1400, at + 1);
  push_many(port, lines, times);

  std::size_t largest = 0;
  auto received = read_lines(*socket, 1400, largest);
  std::sort(received.begin(), received.end());
  std::sort(lines.begin(), lines.end());
  CHECK(received == lines);
  // Nothing is sent twice: what comes next is the next entry pushed, alone.
  push(port, "sentinel", at + 2);
  CHECK(read_lines(*socket, 1, largest) == std::vector<std::string>{"sentinel"});
}

TEST_CASE("tail answers a ping with a pong carrying the unmasked payload, between fragments too") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  auto tail = open_tail(server.port());

  const auto started = std::chrono::steady_clock::now();
  tail->send(client_frame(0x9, "are you there?"));
  const auto pong = tail->read_frame();
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload == "are you there?");
  // Answered as it arrives, not at the next poll of the backend.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(900));

  // Control frames may come between the fragments of a message (RFC 6455 section 5.4).
  tail->send(client_frame(0x1, "frag", false));
  tail->send(client_frame(0x9, "in between"));
  tail->send(client_frame(0x0, "mented"));
  tail->send(client_frame(0x9, std::string(125, 'p')));
  const auto between = tail->read_frame();
  CHECK(between.opcode == 0xA);
  CHECK(between.payload == "in between");
  const auto longest = tail->read_frame();
  CHECK(longest.opcode == 0xA);
  CHECK(longest.payload == std::string(125, 'p'));
}

TEST_CASE("tail answers frames that come in the same write as the upgrade request") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  Socket tail(server.port());
  tail.send(handshake(kNoMatchTail) + client_frame(0x9, "early") +
            client_frame(0x8, close_payload(1000, "done")));
  const std::string head = tail.read_head();
  REQUIRE(head.rfind("HTTP/1.1 101 ", 0) == 0);
  const auto pong = tail.read_frame();
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload == "early");
  const auto closing = tail.read_frame();
  CHECK(closing.opcode == 0x8);
  CHECK(close_code(closing.payload) == 1000);
}

TEST_CASE("tail answers a close frame with the same status code and ends the connection") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  std::vector<std::unique_ptr<Socket>> tails;
  for (int i = 0; i < lognurse::host::kMaxConcurrentTails; ++i) tails.push_back(open_tail(port));

  for (auto& tail : tails) {
    const auto started = std::chrono::steady_clock::now();
    tail->send(client_frame(0x8, close_payload(1000, "done")));
    const auto answer = tail->read_frame();
    CHECK(answer.opcode == 0x8);
    CHECK(answer.payload == close_payload(1000, ""));
    CHECK(tail->read(1).empty());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(900));
  }
  tails.clear();

  // The closed tails gave their places back before their close frames: as many new ones
  // open at once.
  std::vector<std::unique_ptr<Socket>> again;
  for (int i = 0; i < lognurse::host::kMaxConcurrentTails; ++i) again.push_back(open_tail(port));

  // A close frame without a status code is answered with one without either.
  auto bare = std::move(again.front());
  bare->send(client_frame(0x8, ""));
  const auto answer = bare->read_frame();
  CHECK(answer.opcode == 0x8);
  CHECK(answer.payload.empty());
  CHECK(bare->read(1).empty());
}

TEST_CASE("a tail's place is free once its close frame is on the way") {
  // A client may open its next tail as soon as it sees the last one's close frame, while the
  // server still waits for it to close the connection.
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  std::vector<std::unique_ptr<Socket>> tails;
  for (int i = 0; i < lognurse::host::kMaxConcurrentTails; ++i) tails.push_back(open_tail(port));
  const std::vector<std::pair<std::string, std::string>> endings = {
      {"the client's close frame", client_frame(0x8, close_payload(1000, "done"))},
      {"a frame that breaks the protocol", client_frame(0x3, "x")},
  };
  for (std::size_t i = 0; i < endings.size(); ++i) {
    INFO(endings[i].first);
    tails[i]->send(endings[i].second);
    const auto answer = tails[i]->read_frame();
    REQUIRE(answer.opcode == 0x8);
    // The ended tail's connection stays open; its place is already free.
    tails.push_back(open_tail(port));
  }
}

TEST_CASE("tail closes the connection with 1002 on a frame that breaks RFC 6455") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const std::string masked_ping = client_frame(0x9, "x");
  const std::vector<std::pair<std::string, std::string>> frames = {
      {"an unmasked frame", std::string("\x89\x01x", 3)},
      {"a reserved bit", std::string(1, static_cast<char>(masked_ping[0] | 0x40)) +
                             masked_ping.substr(1)},
      {"a reserved opcode", client_frame(0x3, "x")},
      {"a control frame over 125 bytes", client_frame(0x9, std::string(126, 'x'))},
      {"a fragmented control frame", client_frame(0x9, "x", false)},
      {"a continuation without a message", client_frame(0x0, "x")},
      {"a new message inside a fragmented one",
       client_frame(0x1, "a", false) + client_frame(0x1, "b")},
      {"a close payload of one byte", client_frame(0x8, "x")},
      {"a close code that may not be sent", client_frame(0x8, close_payload(1005, ""))},
  };
  for (const auto& [what, frame] : frames) {
    INFO(what);
    auto tail = open_tail(server.port());
    tail->send(frame);
    const auto answer = tail->read_frame();
    CHECK(answer.opcode == 0x8);
    CHECK(close_code(answer.payload) == 1002);
    CHECK(tail->read(1).empty());
  }
}

TEST_CASE("tail closes with 1009 on a message over 64 KiB, with 1007 on text that is not UTF-8") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  {
    // Refused from the header alone: the payload is never sent.
    auto tail = open_tail(server.port());
    std::string header = {static_cast<char>(0x82), static_cast<char>(0x80 | 127)};
    for (int shift = 56; shift >= 0; shift -= 8) {
      header += static_cast<char>((std::uint64_t{1} << 20 >> shift) & 0xFF);
    }
    tail->send(header + "\x01\x02\x03\x04");
    const auto answer = tail->read_frame();
    CHECK(answer.opcode == 0x8);
    CHECK(close_code(answer.payload) == 1009);
    CHECK(answer.payload.substr(2) == "messages are limited to 65536 bytes");
    CHECK(tail->read(1).empty());
  }
  {
    // Fragments count together.
    auto tail = open_tail(server.port());
    tail->send(client_frame(0x2, std::string(40000, 'a'), false));
    tail->send(client_frame(0x0, std::string(40000, 'b')));
    const auto answer = tail->read_frame();
    CHECK(answer.opcode == 0x8);
    CHECK(close_code(answer.payload) == 1009);
  }
  {
    auto tail = open_tail(server.port());
    tail->send(client_frame(0x1, "caf\xC3"));
    const auto answer = tail->read_frame();
    CHECK(answer.opcode == 0x8);
    CHECK(close_code(answer.payload) == 1007);
    CHECK(tail->read(1).empty());
  }
  {
    // A message within the limit is read and ignored; the tail goes on.
    auto tail = open_tail(server.port());
    tail->send(client_frame(0x1, std::string(60000, 'a')));
    tail->send(client_frame(0x9, "still here"));
    const auto pong = tail->read_frame();
    CHECK(pong.opcode == 0xA);
    CHECK(pong.payload == "still here");
  }
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

TEST_CASE("a tail handshake of another WebSocket version gets 426 naming version 13") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  for (const std::string version : {"", "Sec-WebSocket-Version: 8\r\n"}) {
    INFO(version);
    Socket socket(server.port());
    socket.send("GET /loki/api/v1/tail?query=%7Bservice_name%3D%22api%22%7D HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
                version + "\r\n");
    const std::string head = socket.read_head();
    CHECK(head.rfind("HTTP/1.1 426 ", 0) == 0);
    CHECK(head.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
  }
}

TEST_CASE("response heads go out without headers that contradict them") {
  using lognurse::host::cleaned_response_head;
  CHECK(cleaned_response_head(
            "HTTP/1.1 101 Switching Protocol\r\nConnection: Upgrade\r\nContent-Length: "
            "4294967295\r\nContent-Type: application/octet-stream\r\nKeep-Alive: timeout=5, "
            "max=5\r\nSec-WebSocket-Accept: x\r\nUpgrade: websocket\r\n\r\nframes") ==
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        "x\r\nUpgrade: websocket\r\n\r\nframes");
  CHECK(cleaned_response_head("HTTP/1.1 415 Unsupported Media Type\r\nConnection: close\r\n"
                              "Content-Length: 2\r\nConnection: close\r\nKeep-Alive: "
                              "timeout=5, max=10000\r\n\r\n{}") ==
        "HTTP/1.1 415 Unsupported Media Type\r\nConnection: close\r\nContent-Length: 2\r\n"
        "\r\n{}");
  // A head with nothing to take out is left alone.
  CHECK_FALSE(cleaned_response_head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: "
                                    "timeout=5, max=10000\r\n\r\n{}"));
  CHECK_FALSE(cleaned_response_head("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
}
