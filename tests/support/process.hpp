#pragma once

// Runs the real sample_host binary for integration tests: one-shot commands
// with captured output, and long-running servers on loopback ports.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace lognurse::test {

/// The build directory (from the LOGNURSE_BUILD_DIR environment variable that
/// CTest sets, else the compile-time default).
std::string build_dir();

/// build_dir()/bin/sample_host.
std::string host_binary();

/// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `args` (args[0] is the program) with `input` on standard input and
/// waits at most `timeout` for it to end (then kills it and fails).
CommandResult run_command(const std::vector<std::string>& args, const std::string& input = "",
                          std::chrono::seconds timeout = std::chrono::seconds(60));

/// A `sample_host serve` process on 127.0.0.1 with an ephemeral port.
class HostServer {
public:
  /// Starts the host with `extra_args` after "serve" (e.g. --data-dir DIR) and
  /// waits until it prints its port.
  explicit HostServer(const std::vector<std::string>& extra_args,
                      const std::vector<std::string>& global_args = {});
  ~HostServer();  ///< SIGTERM, then wait

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  /// Sends SIGKILL and reaps the process.
  void kill_hard();

  /// Sends SIGTERM and waits; returns the exit status.
  int stop();

private:
  pid_t pid_ = -1;
  int port_ = 0;
  int stdout_fd_ = -1;
};

/// Minimal HTTP client for tests, on loopback only.
struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;

  /// The first header of that name (case-insensitive), or "".
  std::string header(const std::string& name) const;
};

/// Sends any method with headers; the body is sent when non-empty.
HttpResponse http_request(int port, const std::string& method, const std::string& path,
                          const std::string& body = "",
                          const std::vector<std::pair<std::string, std::string>>& headers = {});

HttpResponse http_get(int port, const std::string& path);

/// Opens an MCP session on the host at `port` (POST /mcp initialize) and
/// returns the headers every later request of the session sends: Accept and
/// Mcp-Session-Id.
std::vector<std::pair<std::string, std::string>> mcp_session(int port);

/// Percent-encodes every byte but RFC 3986's unreserved characters, for query strings.
std::string url_encode(const std::string& text);
HttpResponse http_post(int port, const std::string& path, const std::string& body,
                       const std::string& content_type = "application/json",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});

/// A TCP connection to 127.0.0.1:`port` whose reads time out after `receive_timeout_seconds`;
/// -1 when it cannot connect. The caller closes it.
int connect_loopback(int port, int receive_timeout_seconds);

}  // namespace lognurse::test
