#pragma once

// A loopback HTTP/1.1 server on raw sockets for faults that a library server
// cannot produce: a connection reset before any answer, and an answer whose
// body is cut short. Each connection carries one request and is closed.

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lognurse::loki::test {

/// What the server does with one request.
enum class RawAction {
  answer,    ///< a complete answer with `status`, `headers` and `body`
  reset,     ///< close with SO_LINGER 0, so the client sees a reset
  truncate,  ///< status 200 announcing more body bytes than are sent
};

/// One scripted step.
struct RawStep {
  /// A step; `status`, `body` and `headers` matter only for answer.
  RawStep(RawAction action_, int status_ = 204, std::string body_ = {},
          std::map<std::string, std::string> headers_ = {})
      : action(action_), status(status_), body(std::move(body_)), headers(std::move(headers_)) {}

  RawAction action = RawAction::answer;
  int status = 204;
  std::string body;
  std::map<std::string, std::string> headers;
};

/// One request as received, with the step that answered it.
struct RawRequest {
  std::string request_line;
  std::string body;
  RawAction action = RawAction::answer;
  int status = 0;
};

/// The server; steps are used in order and the last one repeats.
class RawFaultServer {
public:
  /// Binds 127.0.0.1 on an ephemeral port and serves until destruction.
  explicit RawFaultServer(std::vector<RawStep> steps);
  ~RawFaultServer();
  RawFaultServer(const RawFaultServer&) = delete;
  RawFaultServer& operator=(const RawFaultServer&) = delete;

  /// "http://127.0.0.1:<port>".
  std::string url() const;
  /// Requests received so far.
  std::vector<RawRequest> requests() const;

private:
  void serve();
  void handle(int client);

  std::vector<RawStep> steps_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<RawRequest> requests_;
  std::thread thread_;
};

}  // namespace lognurse::loki::test
