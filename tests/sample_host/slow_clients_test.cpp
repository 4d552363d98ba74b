// Clients that send slowly or not at all hold no worker of the real binary: it keeps
// answering others, cuts a request that does not arrive whole within server.read_timeout,
// and still serves requests that come in pieces or several at once.

#include <sys/socket.h>
#include <unistd.h>

#include <sys/time.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <vector>

#include <catch2/catch.hpp>

#include "connection_gate.hpp"
#include "connection_stream.hpp"
#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::host::ClientConnection;
using lognurse::host::ConnectionGate;
using lognurse::host::ConnectionStream;
using lognurse::host::frame_request;
using lognurse::test::http_get;
using lognurse::test::connect_loopback;
using lognurse::test::HostServer;
using lognurse::test::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

/// More connections than the host has workers (8 for requests, 4 for MCP streams, 4 for
/// tails, 4 for bodies read while their requests are served).
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
      const auto framing = frame_request(std::string_view(bytes).substr(at, head + 4 - at));
      at = head + 4 + framing.content_length.value_or(0);
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

/// Sends `bytes` on a new connection and reads until the host closes it.
std::string answer_before_close(int port, const std::string& bytes) {
  const int fd = connect_loopback(port, 5);
  REQUIRE(fd >= 0);
  send_all(fd, bytes);
  std::string response;
  CHECK(read_until_closed(fd, response));
  ::close(fd);
  return response;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Sends `request` on a new connection and reads its response.
std::string first_response(int port, const std::string& request) {
  const int fd = connect_loopback(port, 5);
  REQUIRE(fd >= 0);
  send_all(fd, request);
  std::string response = read_responses(fd, 1);
  ::close(fd);
  return response;
}

/// GET /ready on a new connection is answered with 200 within 5 s.
void check_ready_answers(int port) {
  const auto start = Clock::now();
  const std::string response = first_response(port, kReady);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(seconds_since(start) < 5);
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

TEST_CASE("a request head ends at its first CRLF blank line, as httplib reads it") {
  CHECK(frame_request("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody").head_size == 27);
  CHECK(frame_request("GET / HTTP/1.0\r\n\r\n").head_size == 18);
  // httplib skips a blank line of a bare LF and waits on: such a head is whole, and refused.
  const auto bare = frame_request("GET / HTTP/1.1\nHost: a\n\nbody");
  CHECK(bare.head_size == 24);
  CHECK(bare.problem == "the request head ends in a bare LF; end every line with CRLF");
  const auto bare_blank = frame_request("GET / HTTP/1.1\r\nHost: a\r\n\nbody");
  CHECK(bare_blank.head_size == 26);
  CHECK(bare_blank.problem == "the request head ends in a bare LF; end every line with CRLF");
  CHECK(frame_request("GET / HTTP/1.1\r\nHost: a\n\r\n").head_size == 26);
  // A bare LF condemns a head before it is whole: no blank line has to follow.
  const auto partial = frame_request("GET / HTTP/1.1\nHost: a\n");
  CHECK(partial.whole_head());
  CHECK(partial.problem == "a line of the request head ends in a bare LF; end every line with CRLF");
  CHECK_FALSE(frame_request("GET / HTTP/1.1\r\nHost: a\r").whole_head());
  // HTTP/1.0 connections end after their response.
  CHECK(frame_request("GET / HTTP/1.0\r\n\r\n").closes);
  CHECK_FALSE(frame_request("GET / HTTP/1.1\r\nHost: a\r\n\r\n").closes);
  // In a body, after a head that ends as it should, two LFs are the body's.
  const auto body = frame_request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n\n\n");
  CHECK(body.head_size == 47);
  CHECK(body.problem.empty());
  CHECK_FALSE(frame_request("GET / HTTP/1.1\r\nHost: a\r\n").whole_head());
  CHECK_FALSE(frame_request("GET / HTTP/1.1\r\nHost: a\r\n\r").whole_head());
  CHECK_FALSE(frame_request("").whole_head());
}

TEST_CASE("a request head's framing is read as httplib reads it, and ambiguity is refused") {
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  auto plain = frame_request(post + "content-LENGTH:  12 \r\nExpect: 100-Continue\r\n"
                                    "Connection: keep-alive, Close\r\n\r\n");
  CHECK(plain.content_length == 12U);
  CHECK(plain.expects_continue);
  CHECK_FALSE(plain.httplib_continues);  // httplib answers only the lower-case value
  CHECK(plain.closes);
  CHECK(plain.problem.empty());
  CHECK(frame_request(post + "Expect: 100-continue\r\n\r\n").httplib_continues);
  CHECK_FALSE(frame_request(post + "\r\n").content_length);
  CHECK(frame_request(post + "Transfer-Encoding: Chunked\r\n\r\n").chunked);
  // The request line is no header, whatever it looks like.
  CHECK_FALSE(frame_request("Content-Length: 5\r\nHost: a\r\n\r\n").content_length);
  CHECK(frame_request(post + "Content-Length: 1\r\nContent-Length: 1\r\n\r\n").problem.empty());

  auto problem = [&](const std::string& headers) {
    return frame_request(post + headers + "\r\n").problem;
  };
  CHECK(problem("Content-Length: 1e3\r\n") == "Content-Length \"1e3\" is not a byte count");
  CHECK(problem("Content-Length: 100000\r\nContent-Length: 1\r\n") ==
        "the request has two different Content-Length headers");
  CHECK(problem("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") ==
        "the request has both Content-Length and Transfer-Encoding");
  CHECK(problem("Content-Length: 5\n") ==
        "a header line ends in a bare LF; end every line with CRLF");
  CHECK(problem("Content-Length : 5\r\n") ==
        "a header name is empty or has white space before its colon");
  CHECK(problem("X-A: b\r\n c\r\n") ==
        "a header line is folded onto the one before (obsolete line folding)");
  CHECK(problem("Content-Length: 5\rX: y\r\n") == "a header line holds a bare CR");
  CHECK(problem("Content-Length 5\r\n") == "a header line has no colon");
  CHECK(problem("Host: b\r\n") == "the request has more than one Host header");
  CHECK(frame_request("GET / HTTP/1.1\r\n\r\n").problem ==
        "an HTTP/1.1 request needs a Host header");
  CHECK(frame_request("GET / HTTP/1.1\n\r\n").problem == "the request line does not end in CRLF");
  CHECK(frame_request("GET / HTTP/1.1 \r\n\r\n").problem == "the request line ends in white space");
  CHECK(frame_request("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").problem ==
        "the request has more than one Host header");
  // A body httplib will not read ends the connection after the response.
  CHECK(frame_request("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n").closes);
  CHECK(frame_request("OPTIONS / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            .closes);
  CHECK_FALSE(frame_request(post + "Content-Length: 3\r\n\r\n").closes);
  CHECK_FALSE(frame_request("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").closes);
  for (const std::string coding : {"identity", "gzip, chunked", "chunked, chunked"}) {
    const auto refused = frame_request(post + "Transfer-Encoding: " + coding + "\r\n\r\n");
    CHECK(refused.problem_status == 501);
    CHECK(refused.problem == "Transfer-Encoding \"" + coding +
                                 "\" is not supported; send the body with Content-Length, or "
                                 "chunked alone");
  }
  const auto twice =
      frame_request(post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(twice.problem_status == 400);
  CHECK(twice.problem == "the request has two Transfer-Encoding headers; send chunked once");
}

TEST_CASE("a request line or header httplib would answer with a bare 400 is refused saying why") {
  auto refusal = [](const std::string& head) { return frame_request(head + "\r\n"); };
  const auto brew = refusal("BREW /pot HTTP/1.1\r\nHost: a\r\n");
  CHECK(brew.problem_status == 501);
  CHECK(brew.problem_code == "http.unsupported_method");
  CHECK(brew.problem ==
        "the method BREW is unknown here; the routes take GET, HEAD, POST and, on /mcp, "
        "DELETE");
  const auto two = refusal("GET / HTTP/2.0\r\nHost: a\r\n");
  CHECK(two.problem_status == 505);
  CHECK(two.problem_code == "http.unsupported_version");
  CHECK(two.problem == "HTTP/2.0 is not supported; speak HTTP/1.1 (or HTTP/1.0) to this host");
  CHECK(refusal("PRI * HTTP/2.0\r\n").problem_status == 505);
  CHECK(refusal("GET /\r\nHost: a\r\n").problem ==
        "the request line \"GET /\" is not METHOD TARGET HTTP/1.1");
  CHECK(refusal("GET / FTP/1.1\r\nHost: a\r\n").problem ==
        "the request line \"GET / FTP/1.1\" does not end in an HTTP version such as HTTP/1.1");
  for (const std::string method : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    CHECK(refusal(method + " / HTTP/1.1\r\nHost: a\r\n").problem.empty());
  }
  CHECK(refusal("GET / HTTP/1.0\r\n").problem.empty());
  // RFC 9110, section 5.5: NUL and other controls have no place in a field.
  const auto nul = refusal("GET / HTTP/1.1\r\nHost: a\r\nX-Note: a" + std::string(1, '\0') +
                           "b\r\n");
  CHECK(nul.problem_status == 400);
  CHECK(nul.problem == "the header X-Note holds the control byte 0x00");
  CHECK(refusal("GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x7f\r\n").problem ==
        "the header X-Note holds the control byte 0x7F");
  CHECK(refusal("GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\tb \xc3\xa9\r\n").problem.empty());
}

TEST_CASE("the host answers such requests with the status and the reason, and 405 with Allow") {
  SlowClientHost host("20s");
  const int port = host.server.port();
  auto head_of = [&](const std::string& request) {
    const std::string response = answer_before_close(port, request);
    return response.substr(0, response.find("\r\n"));
  };
  CHECK(head_of("BREW /pot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ==
        "HTTP/1.1 501 Not Implemented");
  CHECK(head_of("GET /ready HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n") ==
        "HTTP/1.1 505 HTTP Version Not Supported");
  // An HTTP/1.0 response says the connection ends, and offers no keep-alive.
  const std::string old_version = answer_before_close(port, "GET /ready HTTP/1.0\r\n\r\n");
  CHECK(old_version.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(old_version.find("Connection: close\r\n") != std::string::npos);
  CHECK(old_version.find("Keep-Alive") == std::string::npos);
  // A bare LF is refused as soon as it arrives, not after the read timeout.
  const auto sent = Clock::now();
  CHECK(head_of("GET /ready HTTP/1.1\nHost: 127.0.0.1\n") == "HTTP/1.1 400 Bad Request");
  CHECK(seconds_since(sent) < 5);
  const std::string nul = answer_before_close(
      port, "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a" + std::string(1, '\0') +
                "\r\n\r\n");
  CHECK(nul.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(nul.find("the header X-Note holds the control byte 0x00") != std::string::npos);

  const std::string wrong_method =
      first_response(port, "GET /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(wrong_method.rfind("HTTP/1.1 405 ", 0) == 0);
  CHECK(wrong_method.find("\r\nAllow: POST\r\n") != std::string::npos);
  CHECK(wrong_method.find("the tool there takes POST") != std::string::npos);

  // RFC 9112, section 3.2.2: a target in absolute form, as sent to a proxy, is served too,
  // also when a second request follows in the same packet.
  const int absolute = connect_loopback(port, 5);
  REQUIRE(absolute >= 0);
  send_all(absolute, "GET http://127.0.0.1:" + std::to_string(port) +
                         "/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         "GET HTTP://localhost/api/nurse/logs/labels?since=1h HTTP/1.1\r\n"
                         "Host: 127.0.0.1\r\n\r\n");
  const std::string both = read_responses(absolute, 2);
  ::close(absolute);
  CHECK(both.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(both.find("HTTP/1.1 200 ", 1) != std::string::npos);
  CHECK(both.find("\"status\":\"success\"") != std::string::npos);
  CHECK(first_response(port, "GET https://127.0.0.1?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .rfind("HTTP/1.1 404 ", 0) == 0);  // "/?x=1", which has no route

  for (const std::string request :
       {"DELETE /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "GET /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "PUT /otlp/v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"}) {
    INFO(request);
    const std::string answer = first_response(port, request);
    CHECK(answer.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(answer.find("\r\nAllow: POST\r\n") != std::string::npos);
  }
  // The Loki read routes take GET and POST; the host's own routes and the tail take GET.
  for (const auto& [request, allow] : std::vector<std::pair<std::string, std::string>>{
           {"PUT /loki/api/v1/labels HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
            "GET, POST"},
           {"DELETE /loki/api/v1/label/app/values HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "GET, POST"},
           {"PATCH /loki/api/v1/query_range HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0"
            "\r\n\r\n",
            "GET, POST"},
           {"POST /loki/api/v1/tail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
            "GET"},
           {"POST /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", "GET"},
           {"DELETE /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "GET"},
           {"PUT /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
            "GET"}}) {
    INFO(request);
    const std::string answer = first_response(port, request);
    CHECK(answer.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(answer.find("\r\nAllow: " + allow + "\r\n") != std::string::npos);
    CHECK(answer.find("\"code\":\"http.method_not_allowed\"") != std::string::npos);
  }
}

TEST_CASE("a request body that arrived is read even when its read timeout has passed") {
  // It may have waited for a worker that long; only a client that has not sent it is late.
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
  ConnectionStream stream(pair[0], 1000, 1000);
  REQUIRE(::send(pair[1], head.data(), head.size(), 0) == static_cast<ssize_t>(head.size()));
  REQUIRE(stream.fill_available() == static_cast<ssize_t>(head.size()));
  stream.begin_request(Clock::now() - std::chrono::seconds(1), 1000);
  char buffer[64];
  REQUIRE(stream.read(buffer, head.size()) == static_cast<ssize_t>(head.size()));
  REQUIRE(::send(pair[1], "body", 4, 0) == 4);
  CHECK(stream.read(buffer, sizeof buffer) == 4);
  CHECK_FALSE(stream.must_close());
  CHECK(stream.read(buffer, sizeof buffer) == -1);  // nothing more, and late: no waiting
  CHECK(stream.timed_out());
  CHECK(stream.must_close());
  ::close(pair[0]);
  ::close(pair[1]);
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
  check_ready_answers(host.server.port());
}

TEST_CASE("the host answers while more clients than it has workers trickle their bodies") {
  SlowClientHost host("20s");
  Sockets slow;
  // Bodies of up to ConnectionStream::kMaxWaitedRequestBytes are waited for before a worker
  // takes the request; these leave 190 KB of each unsent.
  const std::string head = "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                           "application/json\r\nContent-Length: 200000\r\n\r\n";
  for (int i = 0; i < kManyClients; ++i) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    slow.fds.push_back(fd);
    send_all(fd, head + "{\"streams\":[" + std::string(10000, ' '));
  }
  check_ready_answers(host.server.port());
}

TEST_CASE("clients that trickle bodies too large to wait for hold only the body workers") {
  SlowClientHost host("20s");
  Sockets slow;
  // More of each kind than the host has workers of all kinds; each would hold a worker
  // until the 20 s read timeout.
  for (int i = 0; i < 24; ++i) {
    for (const char* framing : {"Content-Length: 2097152", "Transfer-Encoding: chunked"}) {
      const int fd = connect_loopback(host.server.port(), 5);
      REQUIRE(fd >= 0);
      slow.fds.push_back(fd);
      send_all(fd, std::string("POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\n") +
                       framing + "\r\n\r\n" + (framing[0] == 'T' ? "1\r\n{\r\n" : "{"));
    }
  }
  check_ready_answers(host.server.port());
  // A push whose body arrives with its head is stored meanwhile.
  const auto start = Clock::now();
  const auto pushed = lognurse::test::http_request(
      host.server.port(), "POST", "/loki/api/v1/push",
      R"({"streams":[{"stream":{"service_name":"quick"},"values":[["1700000000000000000","x"]]}]})",
      {{"Content-Type", "application/json"}});
  CHECK(pushed.status == 204);
  CHECK(seconds_since(start) < 5);
}

TEST_CASE("a body sent in pieces, longer than the buffer, is read whole and served") {
  SlowClientHost host("20s");
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);
  // About 300 KB of JSON: one stream of 3,000 lines of 100 bytes.
  std::string values;
  for (int i = 0; i < 3000; ++i) {
    if (i > 0) values += ',';
    const std::string line = "line " + std::to_string(i) + " " + std::string(90, 'x');
    values += "[\"" + std::to_string(1700000000000000000LL + i) + "\",\"" + line + "\"]";
  }
  const std::string body =
      "{\"streams\":[{\"stream\":{\"service_name\":\"pieces\"},\"values\":[" + values + "]}]}";
  REQUIRE(body.size() > 16 * ConnectionStream::kBufferBytes);
  REQUIRE(body.size() < ConnectionStream::kMaxWaitedRequestBytes);
  const std::string request = "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body + kReady;
  // Ten pieces, each cut inside the head or the body, with pauses between them.
  const std::size_t piece = request.size() / 10 + 1;
  for (std::size_t at = 0; at < request.size(); at += piece) {
    send_all(fd, request.substr(at, piece));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string responses = read_responses(fd, 2);
  ::close(fd);
  CHECK(responses.rfind("HTTP/1.1 204", 0) == 0);
  const auto second = responses.find("HTTP/1.1 ", 1);
  REQUIRE(second != std::string::npos);
  CHECK(responses.substr(second, 12) == "HTTP/1.1 200");
  const auto counted = http_get(host.server.port(),
                                "/loki/api/v1/query?query=sum(count_over_time(%7Bservice_name%3D%22"
                                "pieces%22%7D%5B1000d%5D))&time=1700000001");
  INFO(counted.body);
  CHECK(counted.body.find("\"3000\"") != std::string::npos);
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
  const std::string head =
      "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: 0123456789\r\n\r\n";
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
  // One the gate waits for, and one over ConnectionStream::kMaxWaitedRequestBytes, which a
  // worker reads.
  for (const char* length : {"100000", "2000000"}) {
    INFO("Content-Length: " << length);
    const int fd = connect_loopback(host.server.port(), 10);
    REQUIRE(fd >= 0);
    const auto start = Clock::now();
    send_all(fd, std::string("POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\nContent-Length: ") +
                     length + "\r\n\r\n{\"streams\":");
    std::string response;
    const bool closed = read_until_closed(fd, response);
    ::close(fd);
    CHECK(closed);
    CHECK(seconds_since(start) < 4.0);
    CHECK(response.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
    CHECK(response.find("\"code\":\"http.request_timeout\"") != std::string::npos);
    CHECK(response.find("read timeout of 1s") != std::string::npos);
  }
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

TEST_CASE("heads that only look whole, or never end, or frame a body badly, hold no worker") {
  SlowClientHost host("20s");
  Sockets parked;
  auto open = [&](const std::string& bytes) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    parked.fds.push_back(fd);
    send_all(fd, bytes);
    return fd;
  };
  // Heads that never end: each waits in the gate.
  for (int i = 0; i < 20; ++i) open("GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  // A head whose blank line is a bare LF is refused at once.
  const int bare = open("GET /ready HTTP/1.1\nHost: 127.0.0.1\n\n");
  // A head over the buffer is refused at once.
  const int huge = open("GET /ready HTTP/1.1\r\n" + std::string(20000, 'h'));
  // A body over server.max_body_bytes is refused before it is read.
  const int large = open("POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         "application/json\r\n"
                         "Content-Length: 100000000000000000\r\n\r\n{");
  // Two lengths: which one frames the body is ambiguous.
  const int twice = open("POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
                         "Content-Length: 1\r\n\r\n{");

  const auto start = Clock::now();
  CHECK(http_get(host.server.port(), "/ready").status == 200);
  CHECK(seconds_since(start) < 5);

  std::string response;
  CHECK(read_until_closed(bare, response));
  CHECK(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(response.find("the request head ends in a bare LF; end every line with CRLF") !=
        std::string::npos);
  response.clear();
  CHECK(read_until_closed(huge, response));
  CHECK(response.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  CHECK(response.find("\"code\":\"http.head_too_large\"") != std::string::npos);
  response.clear();
  CHECK(read_until_closed(large, response));
  CHECK(response.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0) == 0);
  CHECK(response.find("server.max_body_bytes limit of 67108864 bytes") != std::string::npos);
  response.clear();
  CHECK(read_until_closed(twice, response));
  CHECK(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(response.find("the request has two different Content-Length headers; the request "
                      "cannot be read safely") != std::string::npos);
}

TEST_CASE("what httplib leaves unread of a request is never run as the next request") {
  SlowClientHost host("20s");
  const std::string push = "{\"streams\":[{\"stream\":{\"app\":\"smuggled\"},"
                           "\"values\":[[\"" + std::to_string(lognurse::now_ns()) +
                           "\",\"x\"]]}]}";
  const std::string smuggled = "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                               "application/json\r\nContent-Length: " +
                               std::to_string(push.size()) + "\r\n\r\n" + push;
  auto count_smuggled = [&] {
    return http_get(host.server.port(), "/loki/api/v1/query_range?query=%7Bapp%3D%22smuggled%22%7D")
        .body.find("\"values\":[[");
  };

  struct Carrier {
    std::string head;     ///< a request whose body is `smuggled`
    std::string status;   ///< what it is answered
  };
  const std::string length = std::to_string(smuggled.size());
  for (const Carrier& carrier : std::vector<Carrier>{
           // A body the route refuses before reading it (its encoding).
           {"POST /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            "\r\nContent-Encoding: gzip\r\nContent-Length: " + length + "\r\n\r\n",
            "415"},
           // A GET, whose body httplib does not read.
           {"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length + "\r\n\r\n", "200"},
           // A chunked body (here, of a GET) ends its connection, wherever httplib thinks it ends.
           {"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n", "200"},
           // A header line httplib would skip or misread.
           {"POST /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            "\r\nContent-Length : " + length + "\r\n\r\n",
            "400"}}) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    send_all(fd, carrier.head + smuggled);
    std::string response;
    CHECK(read_until_closed(fd, response));
    ::close(fd);
    CHECK(response.rfind("HTTP/1.1 " + carrier.status + " ", 0) == 0);
    CHECK(response.find("HTTP/1.1 204") == std::string::npos);
    // Clients that keep connections learn from the response that this one ends.
    CHECK(response.find("\r\nConnection: close\r\n") != std::string::npos);
  }
  CHECK(count_smuggled() == std::string::npos);
  // Sent as a request of its own, the same bytes are a push that is stored.
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);
  send_all(fd, smuggled);
  CHECK(read_responses(fd, 1).rfind("HTTP/1.1 204 ", 0) == 0);
  ::close(fd);
  CHECK(count_smuggled() != std::string::npos);
}

TEST_CASE("an empty line after a body is skipped, and Expect: 100-continue is answered") {
  SlowClientHost host("20s");
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);
  const std::string body = "{\"query\":\"{app=\\\"a\\\"}\"}";
  send_all(fd, "\r\nPOST /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body + "\r\n" + kReady);
  const std::string two = read_responses(fd, 2);
  CHECK(two.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(two.find("HTTP/1.1 200 ", 1) != std::string::npos);
  CHECK(two.find("HTTP/1.1 400") == std::string::npos);

  // The client waits for 100 Continue before it sends a body that would fit the buffer.
  send_all(fd, "POST /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n");
  const auto start = Clock::now();
  std::string interim;
  char byte = 0;
  while (interim.find("\r\n\r\n") == std::string::npos && ::recv(fd, &byte, 1, 0) == 1) {
    interim += byte;
  }
  CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(seconds_since(start) < 1.0);
  send_all(fd, body);
  // The final response, with no second 100 Continue before it.
  const std::string final_response = read_responses(fd, 1);
  ::close(fd);
  CHECK(final_response.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(final_response.find("100 Continue") == std::string::npos);
}

TEST_CASE("the host stops at once while a worker waits for a slow body") {
  SlowClientHost host("30s");
  const int fd = connect_loopback(host.server.port(), 5);
  REQUIRE(fd >= 0);
  // Over ConnectionStream::kMaxWaitedRequestBytes, so a worker reads the body.
  send_all(fd, "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: 2000000\r\n\r\n{\"streams\":");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = Clock::now();
  CHECK(host.server.stop() == 0);
  CHECK(seconds_since(start) < 5);
  ::close(fd);
}

TEST_CASE("a request behind a served one is judged as the gate judges the first") {
  SlowClientHost host("20s");
  const std::string responses = answer_before_close(
      host.server.port(), kReady + "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                   "application/json\r\nContent-Length: 100000000000\r\n\r\n{");
  CHECK(responses.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(responses.find("HTTP/1.1 413 Payload Too Large\r\n") != std::string::npos);
}

TEST_CASE("transfer codings other than chunked are refused, and a chunked body is bounded") {
  TempDir dir;
  std::ofstream(dir.file("host.yaml")) << "server:\n  max_body_bytes: 1000\n";
  HostServer server({"--data-dir", dir.file("data")}, {"--config", dir.file("host.yaml")});
  const std::string coded = answer_before_close(
      server.port(), "POST /api/nurse/logs/query HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
                     "gzip, chunked\r\n\r\n");
  CHECK(coded.rfind("HTTP/1.1 501 Not Implemented\r\n", 0) == 0);
  CHECK(coded.find("\"code\":\"http.unsupported_transfer_coding\"") != std::string::npos);

  // 100 chunks of 1000 bytes: past the limit and the framing allowed beside it.
  std::string chunks;
  for (int i = 0; i < 100; ++i) chunks += "3e8\r\n" + std::string(1000, 'a') + "\r\n";
  const std::string chunked = answer_before_close(
      server.port(), "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n");
  CHECK(chunked.rfind("HTTP/1.1 413 ", 0) == 0);
}

namespace {

/// One end of a connected pair of sockets, as the gate's connection, whose peer the test
/// plays the client on.
struct GateClient {
  explicit GateClient(bool returning) {
    int ends[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
    peer = ends[1];
    timeval timeout{5, 0};
    ::setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    connection = std::make_shared<ClientConnection>(ends[0], 5000, 5000, 100, nullptr);
    if (returning) --connection->requests_left;
  }
  ~GateClient() { ::close(peer); }
  GateClient(const GateClient&) = delete;
  GateClient& operator=(const GateClient&) = delete;

  std::shared_ptr<ClientConnection> connection;
  int peer = -1;
};

}  // namespace

TEST_CASE("a gate at its cap refuses new connections and closes returning idle ones") {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::shared_ptr<ClientConnection>> dispatched;
  ConnectionGate::Options options;
  options.max_waiting = 1;
  ConnectionGate gate(options, [&](std::shared_ptr<ClientConnection> connection) {
    std::lock_guard lock(mutex);
    dispatched.push_back(std::move(connection));
    changed.notify_all();
  });

  GateClient waiting(false);
  gate.admit(waiting.connection);
  waiting.connection.reset();

  SECTION("a new connection gets 503 and the reason") {
    GateClient refused(false);
    gate.admit(std::move(refused.connection));
    std::string response;
    CHECK(read_until_closed(refused.peer, response));
    CHECK(response.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
    CHECK(response.find("Connection: close\r\n") != std::string::npos);
    CHECK(response.find("\"code\":\"http.too_many_connections\"") != std::string::npos);
    CHECK(response.find("the server has 1 connections waiting for their requests already; "
                        "retry later") != std::string::npos);
  }
  SECTION("a connection back after a request, with nothing sent, is closed without a word") {
    GateClient returning(true);
    gate.admit(std::move(returning.connection));
    std::string response;
    CHECK(read_until_closed(returning.peer, response));
    CHECK(response.empty());
  }
  SECTION("a connection back with part of its next request sent gets 503") {
    GateClient returning(true);
    send_all(returning.peer, "GET /ready HTTP/1.1\r\nHost: 127");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(returning.connection->stream.fill_available() > 0);
    gate.admit(std::move(returning.connection));
    std::string response;
    CHECK(read_until_closed(returning.peer, response));
    CHECK(response.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  }

  // The connection that found room is served once its request is whole.
  send_all(waiting.peer, kReady);
  std::unique_lock lock(mutex);
  CHECK(changed.wait_for(lock, std::chrono::seconds(5), [&] { return dispatched.size() == 1; }));
}

TEST_CASE("the host refuses connections beyond 4096 waiting ones, and serves again when some go") {
  SlowClientHost host("20s");
  Sockets idle;
  const auto start = Clock::now();
  for (int i = 0; i < 4096; ++i) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    idle.fds.push_back(fd);
  }
  // The host admits connections as it accepts them: one that finds room is served (and then
  // waits among the others), the first that finds none is refused.
  std::string refusal;
  for (int attempt = 0; attempt < 200 && refusal.empty(); ++attempt) {
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    send_all(fd, kReady);
    std::string response = read_responses(fd, 1);
    if (response.rfind("HTTP/1.1 200", 0) == 0) {
      idle.fds.push_back(fd);
      continue;
    }
    ::close(fd);
    refusal = std::move(response);
  }
  INFO("seconds since the first connection: " << seconds_since(start));
  CHECK(refusal.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(refusal.find("the server has 4096 connections waiting for their requests already; "
                     "retry later") != std::string::npos);

  for (int i = 0; i < 64; ++i) {
    ::close(idle.fds.back());
    idle.fds.pop_back();
  }
  std::string answer;
  for (int attempt = 0; attempt < 50 && answer.rfind("HTTP/1.1 200", 0) != 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int fd = connect_loopback(host.server.port(), 5);
    REQUIRE(fd >= 0);
    send_all(fd, kReady);
    answer = read_responses(fd, 1);
    ::close(fd);
  }
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("a chunked body is read with its trailer fields, and malformed framing is named") {
  SlowClientHost host("20s");
  const int port = host.server.port();
  const std::string stamp = std::to_string(lognurse::now_ns());
  const std::string push = R"({"streams":[{"stream":{"service_name":"chunked"},"values":[[")" +
                           stamp + R"(","sent in chunks"]]}]})";
  auto chunked = [](const std::string& body, const std::string& trailer) {
    std::string out;
    for (std::size_t at = 0; at < body.size(); at += 10) {
      const std::string piece = body.substr(at, 10);
      char size[16];
      std::snprintf(size, sizeof size, "%zx", piece.size());
      out += std::string(size) + (at == 0 ? ";note=first" : "") + "\r\n" + piece + "\r\n";
    }
    return out + "0\r\n" + trailer + "\r\n";
  };
  const std::string head = "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                           "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  // RFC 9112, section 7.1: trailer fields may follow the last chunk; they are read and dropped.
  const std::string accepted =
      answer_before_close(port, head + chunked(push, "X-Checksum: 1234\r\nX-Other: a\r\n"));
  CHECK(accepted.rfind("HTTP/1.1 204 ", 0) == 0);
  const auto stored = http_get(port, "/loki/api/v1/query_range?query=%7Bservice_name%3D%22"
                                     "chunked%22%7D&since=1h");
  CHECK(stored.body.find("sent in chunks") != std::string::npos);

  struct Malformed {
    std::string body;
    std::string problem;
  };
  for (const auto& c : std::vector<Malformed>{
           {"2\r\n{}XX0\r\n\r\n", "a chunk's data is longer than its size, or lacks its CRLF"},
           {"ZZ\r\n{}\r\n0\r\n\r\n",
            "a chunk starts with its size in hex digits and CRLF, not with this byte"},
           {"1000000000000000\r\n", "a chunk size has more than 15 hex digits"},
           {"2\n{}\r\n0\r\n\r\n", "a chunk starts with its size in hex digits and CRLF"},
           {"2\r\n{}\r\n0\r\nX-T: 1\n\r\n", "a trailer field ends in a bare LF"}}) {
    INFO(c.body);
    for (const std::string& path : {std::string("/loki/api/v1/push"),
                                    std::string("/api/nurse/logs/query")}) {
      INFO(path);
      const std::string refused = answer_before_close(
          port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                "application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + c.body);
      CHECK(refused.rfind("HTTP/1.1 400 ", 0) == 0);
      CHECK(refused.find("\"code\":\"http.bad_chunked_body\"") != std::string::npos);
      CHECK(refused.find("the chunked body is malformed at byte ") != std::string::npos);
      CHECK(refused.find(c.problem) != std::string::npos);
    }
  }
  check_ready_answers(port);
}
