#pragma once

// A scripted HTTP server on 127.0.0.1 that plays the part of Loki where a real
// one cannot on demand: 429 with Retry-After, 5xx, slow and malformed answers.
// It records every request so that tests can assert headers and bodies.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace lognurse::loki::test {

/// One request as the server saw it.
struct RecordedRequest {
  std::string method;
  std::string path;
  std::string body;
  httplib::Headers headers;
  httplib::Params params;
  int remote_port = 0;
  std::chrono::steady_clock::time_point at;

  /// The first value of a header, or "" when absent.
  std::string header(const std::string& name) const;
  /// The first value of a query parameter, or "" when absent.
  std::string param(const std::string& name) const;
};

/// One scripted answer.
struct ScriptedResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds delay{0};  ///< wait before answering (ends at stop)
};

/// {"status":"success","data":<data>} with status 200.
ScriptedResponse success(const std::string& data_json);

/// A handler that picks the answer from the request.
using Responder = std::function<ScriptedResponse(const RecordedRequest&)>;

/// The server; it listens from construction until destruction.
class FaultServer {
public:
  /// Binds an ephemeral port on 127.0.0.1 and starts serving.
  FaultServer();
  /// Ends delayed answers early, stops and joins the server.
  ~FaultServer();
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  /// "http://127.0.0.1:<port>".
  std::string url() const;
  /// The bound port.
  int port() const { return port_; }

  /// Answers for `path`, used in order; the last one repeats. Unscripted
  /// paths answer 404.
  void script(const std::string& path, std::vector<ScriptedResponse> responses);
  /// A computed answer for `path`; replaces any script.
  void route(const std::string& path, Responder responder);

  /// Requests received, all or only those to `path`.
  std::vector<RecordedRequest> requests(const std::string& path = "") const;
  /// Number of requests to `path`.
  std::size_t count(const std::string& path) const;

private:
  void handle(const httplib::Request& request, httplib::Response& response);

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::map<std::string, std::vector<ScriptedResponse>> scripts_;
  std::map<std::string, std::size_t> next_;
  std::map<std::string, Responder> responders_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace lognurse::loki::test
