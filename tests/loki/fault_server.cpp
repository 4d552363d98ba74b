#include "fault_server.hpp"

#include <stdexcept>

namespace lognurse::loki::test {

std::string RecordedRequest::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string RecordedRequest::param(const std::string& name) const {
  const auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

ScriptedResponse success(const std::string& data_json) {
  ScriptedResponse response;
  response.body = "{\"status\":\"success\",\"data\":" + data_json + "}";
  return response;
}

FaultServer::FaultServer() {
  const auto handler = [this](const httplib::Request& request, httplib::Response& response) {
    handle(request, response);
  };
  server_.Get(".*", handler);
  server_.Post(".*", handler);
  server_.set_tcp_nodelay(true);
  server_.set_keep_alive_max_count(1000);
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("cannot bind a port on 127.0.0.1");
  // The socket already listens; connections queue until the loop accepts.
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so wait for it (bounded).
  for (int i = 0; i < 5000 && !server_.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

FaultServer::~FaultServer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

std::string FaultServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FaultServer::script(const std::string& path, std::vector<ScriptedResponse> responses) {
  std::lock_guard lock(mutex_);
  scripts_[path] = std::move(responses);
  next_[path] = 0;
  responders_.erase(path);
}

void FaultServer::route(const std::string& path, Responder responder) {
  std::lock_guard lock(mutex_);
  responders_[path] = std::move(responder);
  scripts_.erase(path);
}

std::vector<RecordedRequest> FaultServer::requests(const std::string& path) const {
  std::lock_guard lock(mutex_);
  if (path.empty()) return requests_;
  std::vector<RecordedRequest> out;
  for (const auto& request : requests_) {
    if (request.path == path) out.push_back(request);
  }
  return out;
}

std::size_t FaultServer::count(const std::string& path) const { return requests(path).size(); }

void FaultServer::handle(const httplib::Request& request, httplib::Response& response) {
  RecordedRequest recorded{request.method,
                           request.path,
                           request.body,
                           request.headers,
                           request.params,
                           request.remote_port,
                           std::chrono::steady_clock::now()};
  ScriptedResponse answer;
  answer.status = 404;
  answer.body = "404 page not found";
  answer.content_type = "text/plain";
  Responder responder;
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(recorded);
    if (const auto it = responders_.find(request.path); it != responders_.end()) {
      responder = it->second;
    } else if (const auto script = scripts_.find(request.path);
               script != scripts_.end() && !script->second.empty()) {
      std::size_t& next = next_[request.path];
      answer = script->second[std::min(next, script->second.size() - 1)];
      ++next;
    }
  }
  if (responder) answer = responder(recorded);

  if (answer.delay.count() > 0) {
    std::unique_lock lock(mutex_);
    stop_cv_.wait_for(lock, answer.delay, [this] { return stopping_; });
  }
  response.status = answer.status;
  for (const auto& [name, value] : answer.headers) response.set_header(name, value);
  response.set_content(answer.body, answer.content_type);
}

}  // namespace lognurse::loki::test
