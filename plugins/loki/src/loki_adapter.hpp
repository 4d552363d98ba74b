#pragma once

// LokiAdapter: a thin libcurl client for Grafana Loki's HTTP API. It sends one
// request per call and maps the answer to values or to a LokiError; it has no
// policy (no retries, no validation, no tenant defaults). LokiBackend builds
// the policy on top.
//
// Thread safety: every method may be called from several threads at once.
// Easy handles live in a small pool so that connections to Loki are reused
// across calls; a call never shares a handle with another call in flight.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "push_encoding.hpp"

namespace lognurse::loki {

/// Error codes of the Loki plugin; stable, passed through by REST and MCP.
namespace codes {
inline constexpr const char* kUnreachable = "loki.unreachable";
inline constexpr const char* kTimeout = "loki.timeout";
inline constexpr const char* kRateLimited = "loki.rate_limited";
inline constexpr const char* kBadRequest = "loki.bad_request";
inline constexpr const char* kUnauthorized = "loki.unauthorized";
inline constexpr const char* kServerError = "loki.server_error";
inline constexpr const char* kBadResponse = "loki.bad_response";
inline constexpr const char* kNotReady = "loki.not_ready";
inline constexpr const char* kConfigError = "loki.config_error";
inline constexpr const char* kInvalidRange = "loki.invalid_range";
inline constexpr const char* kInvalidTenant = "loki.invalid_tenant";
inline constexpr const char* kShuttingDown = "loki.shutting_down";
inline constexpr const char* kQueueFull = "loki.queue_full";
inline constexpr const char* kTlsError = "loki.tls_error";
}  // namespace codes

/// Whether Loki accepts `tenant` as an X-Scope-OrgID: 1 to 150 characters from
/// letters, digits and !-_.*'(), and neither "." nor "..".
bool is_valid_tenant(const std::string& tenant);

/// A failed call to Loki: the lognurse error plus what a retry policy needs.
struct LokiError {
  Error error;               ///< code from `codes`, message for the caller
  int http_status = 0;       ///< Loki's HTTP status; 0 when no answer arrived
  std::string loki_message;  ///< Loki's own error text, trimmed; empty if none
  std::optional<std::chrono::milliseconds> retry_after;  ///< from a Retry-After header
};

/// A value or a LokiError; the adapter's counterpart of lognurse::Result.
template <typename T>
class [[nodiscard]] LokiResult {
public:
  /// A successful result.
  LokiResult(T value) : state_(std::move(value)) {}
  /// A failed result.
  LokiResult(LokiError error) : state_(std::move(error)) {}

  /// Whether the call succeeded.
  bool ok() const { return state_.index() == 0; }
  /// Same as ok().
  explicit operator bool() const { return ok(); }

  /// The value; throws BadResultAccess when the call failed.
  T& value() & {
    check();
    return std::get<0>(state_);
  }
  /// The value; throws BadResultAccess when the call failed.
  const T& value() const& {
    check();
    return std::get<0>(state_);
  }
  /// The value, moved out; throws BadResultAccess when the call failed.
  T&& value() && {
    check();
    return std::get<0>(std::move(state_));
  }
  /// The failure; only valid when !ok().
  const LokiError& error() const { return std::get<1>(state_); }

private:
  void check() const {
    if (!ok()) throw BadResultAccess(error().error);
  }
  std::variant<T, LokiError> state_;
};

/// How the adapter reaches Loki. Secrets live here only; the adapter never
/// logs them nor puts them in error messages.
struct LokiAdapterOptions {
  /// Base URL without a trailing slash, e.g. "http://127.0.0.1:3100".
  std::string endpoint = "http://127.0.0.1:3100";
  /// Time allowed to establish the TCP (and TLS) connection.
  std::chrono::milliseconds connect_timeout{2000};
  /// Time allowed for a whole request, connection included.
  std::chrono::milliseconds timeout{10000};
  /// Basic authentication; used when username is not empty.
  std::string username;
  /// Basic authentication password.
  std::string password;
  /// Bearer token sent as "Authorization: Bearer …"; used when not empty.
  std::string bearer_token;
  /// PEM bundle of CAs to verify Loki's certificate; system CAs when empty.
  std::string ca_file;
  /// PEM client certificate for mutual TLS; used with client_key_file.
  std::string client_cert_file;
  /// PEM private key of client_cert_file.
  std::string client_key_file;
  /// Whether Loki's certificate and host name are verified. Turning it off
  /// leaves the connection open to interception; it exists for test clusters.
  bool verify_tls = true;
  /// Answers larger than this fail with loki.bad_response.
  std::size_t max_response_bytes = 64U << 20U;
  /// Idle easy handles (and so open connections) kept for reuse.
  std::size_t max_idle_connections = 8;
};

/// Loki's /loki/api/v1/status/buildinfo answer.
struct BuildInfo {
  std::string version;     ///< release, e.g. "3.1.0"
  std::string revision;    ///< commit the server was built from
  std::string branch;      ///< branch the server was built from
  std::string go_version;  ///< Go toolchain of the build
};

/// The raw client. See the file comment for its scope and thread safety.
class LokiAdapter {
public:
  /// Creates a client; no connection is opened until the first call.
  explicit LokiAdapter(LokiAdapterOptions options);
  ~LokiAdapter();
  LokiAdapter(const LokiAdapter&) = delete;
  LokiAdapter& operator=(const LokiAdapter&) = delete;

  /// The base URL calls go to.
  const std::string& endpoint() const { return options_.endpoint; }

  /// GET /ready. Succeeds on 200; a 503 ("Ingester not ready…") fails with
  /// loki.not_ready carrying Loki's text.
  LokiResult<Unit> ready();

  /// POST /loki/api/v1/push encoded as `format` (see push_encoding.hpp); in
  /// JSON, structured metadata travels as the third element of each value.
  LokiResult<Unit> push(const std::string& tenant, const PushRequest& request,
                        PushFormat format = PushFormat::json);

  /// POST /loki/api/v1/push of a body encoded already, so that a retry sends
  /// exactly the bytes of the first attempt.
  LokiResult<Unit> push_body(const std::string& tenant, const PushBody& body);

  /// GET /loki/api/v1/query_range. step_ns of 0 lets Loki pick the step.
  LokiResult<QueryResult> query_range(const std::string& tenant, const std::string& logql,
                                      const TimeRange& range, std::size_t limit,
                                      std::int64_t step_ns, Direction direction);

  /// GET /loki/api/v1/query, an instant query evaluated at time_ns.
  LokiResult<QueryResult> query(const std::string& tenant, const std::string& logql,
                                std::int64_t time_ns, std::size_t limit, Direction direction);

  /// GET /loki/api/v1/labels over the range.
  LokiResult<std::vector<std::string>> labels(const std::string& tenant, const TimeRange& range);

  /// GET /loki/api/v1/label/<name>/values over the range; the name is escaped.
  LokiResult<std::vector<std::string>> label_values(const std::string& tenant,
                                                    const std::string& name,
                                                    const TimeRange& range);

  /// GET /loki/api/v1/series with one match[] parameter per selector.
  LokiResult<std::vector<Labels>> series(const std::string& tenant,
                                         const std::vector<std::string>& selectors,
                                         const TimeRange& range);

  /// GET /loki/api/v1/index/stats for one selector over the range. Loki
  /// answers this endpoint without the status/data envelope.
  LokiResult<IndexStats> index_stats(const std::string& tenant, const std::string& selector,
                                     const TimeRange& range);

  /// GET /loki/api/v1/index/volume (step_ns 0: a vector) or
  /// /loki/api/v1/index/volume_range (a matrix with that step).
  LokiResult<QueryResult> index_volume(const std::string& tenant, const VolumeRequest& request);

  /// GET /loki/api/v1/patterns for a selector, counts per step.
  LokiResult<std::vector<LogPattern>> patterns(const std::string& tenant,
                                               const std::string& selector,
                                               const TimeRange& range, std::int64_t step_ns);

  /// GET /loki/api/v1/detected_fields for a query, reading at most
  /// line_limit lines. Loki answers without the status/data envelope.
  LokiResult<std::vector<DetectedField>> detected_fields(const std::string& tenant,
                                                         const std::string& query,
                                                         const TimeRange& range,
                                                         std::size_t line_limit);

  /// GET /loki/api/v1/status/buildinfo.
  LokiResult<BuildInfo> build_info();

private:
  struct HttpAnswer;
  class HandlePool;

  using Params = std::vector<std::pair<std::string, std::string>>;

  LokiResult<HttpAnswer> perform(const std::string& path, const Params& params,
                                 const std::string& tenant, const PushBody* body);
  LokiResult<nlohmann::json> get_json(const std::string& path, const Params& params,
                                      const std::string& tenant);
  LokiResult<nlohmann::json> get_data(const std::string& path, const Params& params,
                                      const std::string& tenant);

  LokiAdapterOptions options_;
  std::unique_ptr<HandlePool> pool_;
};

}  // namespace lognurse::loki
