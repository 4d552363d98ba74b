#include "loki_adapter.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"

namespace lognurse::loki {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxLokiMessage = 2000;
constexpr std::size_t kMaxTenantLength = 150;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

LokiError make_error(ErrorKind kind, const char* code, std::string message, int status = 0,
                     std::string loki_message = {}) {
  LokiError out;
  out.error = Error{kind, code, std::move(message)};
  out.http_status = status;
  out.loki_message = std::move(loki_message);
  return out;
}

std::string trim(std::string_view text) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

/// Loki answers errors as plain text; some proxies and newer versions answer
/// {"message": …} or {"error": …}. Either way the caller gets the text.
std::string extract_loki_message(const std::string& body) {
  std::string text = trim(body);
  if (!text.empty() && text.front() == '{') {
    const json parsed = json::parse(text, nullptr, false);
    if (parsed.is_object()) {
      for (const char* key : {"message", "error"}) {
        const auto it = parsed.find(key);
        if (it != parsed.end() && it->is_string()) {
          text = trim(it->get<std::string>());
          break;
        }
      }
    }
  }
  if (text.size() > kMaxLokiMessage) text = text.substr(0, kMaxLokiMessage) + "…";
  return text;
}

/// Retry-After is either delay-seconds or an HTTP date.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value) {
  const std::string text = trim(value);
  if (text.empty()) return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec == std::errc() && end == text.data() + text.size() && seconds >= 0) {
    return std::chrono::seconds(seconds);
  }
  const std::time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const std::time_t now = std::time(nullptr);
  return std::chrono::seconds(when > now ? when - now : 0);
}

/// RFC 3986 percent-encoding; only unreserved characters stay as they are.
std::string percent_encode(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4U];
      out += kHex[byte & 0x0FU];
    }
  }
  return out;
}

std::string ns_param(std::int64_t ns) { return std::to_string(ns); }

std::string seconds_param(std::int64_t ns) {
  if (ns % kNanosPerSecond == 0) return std::to_string(ns / kNanosPerSecond);
  char buffer[32];
  const auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof buffer, static_cast<double>(ns) / 1e9);
  return std::string(buffer, end);
}

struct Transfer {
  std::string body;
  std::string retry_after;
  std::size_t limit = 0;
  bool overflow = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (transfer->body.size() + bytes > transfer->limit) {
    transfer->overflow = true;
    return 0;
  }
  transfer->body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  // A new status line starts a new response (after 100 Continue, say).
  if (line.rfind("HTTP/", 0) == 0) transfer->retry_after.clear();

  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string prefix(line.substr(0, kName.size()));
    std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (prefix == kName) transfer->retry_after = trim(line.substr(kName.size()));
  }
  return bytes;
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& header) {
    // On allocation failure curl returns null and the old list stays valid.
    if (curl_slist* grown = curl_slist_append(list, header.c_str())) list = grown;
  }
};

}  // namespace

bool is_valid_tenant(const std::string& tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantLength) return false;
  if (tenant == "." || tenant == "..") return false;
  return std::all_of(tenant.begin(), tenant.end(), [](char c) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum || std::string_view("!-_.*'()").find(c) != std::string_view::npos;
  });
}

struct LokiAdapter::HttpAnswer {
  long status = 0;
  std::string body;
  std::optional<std::chrono::milliseconds> retry_after;
};

/// Idle easy handles; each keeps its connection cache, so a handle taken from
/// the pool usually reuses a live connection to Loki.
class LokiAdapter::HandlePool {
public:
  explicit HandlePool(std::size_t max_idle) : max_idle_(max_idle) {}

  ~HandlePool() {
    for (CURL* handle : idle_) curl_easy_cleanup(handle);
  }

  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;

  /// A handle reset to defaults (its connections kept), or null when curl
  /// cannot allocate one.
  CURL* acquire() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        CURL* handle = idle_.back();
        idle_.pop_back();
        curl_easy_reset(handle);
        return handle;
      }
    }
    return curl_easy_init();
  }

  /// Returns a handle for reuse, or frees it when enough are idle.
  void release(CURL* handle) {
    {
      std::lock_guard lock(mutex_);
      if (idle_.size() < max_idle_) {
        idle_.push_back(handle);
        return;
      }
    }
    curl_easy_cleanup(handle);
  }

private:
  std::mutex mutex_;
  std::vector<CURL*> idle_;
  std::size_t max_idle_;
};

LokiAdapter::LokiAdapter(LokiAdapterOptions options)
    : options_(std::move(options)),
      pool_(std::make_unique<HandlePool>(options_.max_idle_connections)) {
  init_curl_once();
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') {
    options_.endpoint.pop_back();
  }
}

LokiAdapter::~LokiAdapter() = default;

LokiResult<LokiAdapter::HttpAnswer> LokiAdapter::perform(const std::string& path,
                                                         const Params& params,
                                                         const std::string& tenant,
                                                         const PushBody* body) {
  const std::string what = std::string(body ? "POST " : "GET ") + path;
  if (!tenant.empty() && !is_valid_tenant(tenant)) {
    return make_error(ErrorKind::invalid_argument, codes::kInvalidTenant,
                      "tenant \"" + tenant.substr(0, 40) +
                          "\" is not a valid Loki tenant ID: use up to 150 letters, digits "
                          "and !-_.*'() characters");
  }

  CURL* curl = pool_->acquire();
  if (curl == nullptr) {
    return make_error(ErrorKind::internal, codes::kUnreachable,
                      "cannot create an HTTP client handle for " + what + " (out of memory?)");
  }
  const auto give_back = [this](CURL* handle) { pool_->release(handle); };
  const std::unique_ptr<CURL, decltype(give_back)> lease(curl, give_back);

  std::string url = options_.endpoint + path;
  for (std::size_t i = 0; i < params.size(); ++i) {
    url += (i == 0 ? '?' : '&');
    url += percent_encode(params[i].first);
    url += '=';
    url += percent_encode(params[i].second);
  }

  HeaderList headers;
  if (!tenant.empty()) headers.add("X-Scope-OrgID: " + tenant);
  if (!options_.bearer_token.empty()) {
    headers.add("Authorization: Bearer " + options_.bearer_token);
  }
  if (path == "/loki/api/v1/query_range" || path == "/loki/api/v1/query") {
    // Stream labels apart from structured metadata and parsed labels, so that
    // an entry's metadata is not taken for labels of its stream.
    headers.add("X-Loki-Response-Encoding-Flags: categorize-labels");
  }
  if (body != nullptr) {
    headers.add("Content-Type: " + body->content_type);
    // Loki answers at once; waiting for 100 Continue only adds latency.
    headers.add("Expect:");
  }

  Transfer transfer;
  transfer.limit = options_.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "lognurse-loki/0.1");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  if (!options_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(curl, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.password.c_str());
  }
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.client_key_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->bytes.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body->bytes.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }

  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    if (code == CURLE_WRITE_ERROR && transfer.overflow) {
      return make_error(ErrorKind::limit_exceeded, codes::kBadResponse,
                        "Loki's answer to " + what + " is larger than max_response_bytes (" +
                            std::to_string(options_.max_response_bytes) +
                            "); lower the query limit or narrow the range");
    }
    if (code == CURLE_OPERATION_TIMEDOUT) {
      return make_error(ErrorKind::timeout, codes::kTimeout,
                        "Loki at " + options_.endpoint + " did not complete " + what +
                            " in time (" + detail +
                            "); raise timeout_ms or narrow the query's range");
    }
    if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CONNECT_ERROR ||
        code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CACERT_BADFILE ||
        code == CURLE_SSL_CIPHER || code == CURLE_SSL_ISSUER_ERROR) {
      return make_error(ErrorKind::unavailable, codes::kTlsError,
                        "TLS with Loki at " + options_.endpoint + " failed for " + what + ": " +
                            detail + "; check ca_file, client_cert_file and client_key_file");
    }
    if (code == CURLE_PARTIAL_FILE) {
      return make_error(ErrorKind::unavailable, codes::kUnreachable,
                        "the connection to Loki at " + options_.endpoint +
                            " closed before the answer to " + what + " was complete: " + detail);
    }
    if (code == CURLE_BAD_CONTENT_ENCODING) {
      return make_error(ErrorKind::unavailable, codes::kBadResponse,
                        "Loki's answer to " + what + " could not be decoded: " + detail);
    }
    return make_error(ErrorKind::unavailable, codes::kUnreachable,
                      "cannot reach Loki at " + options_.endpoint + " for " + what + ": " + detail +
                          "; check the endpoint setting and that Loki is running");
  }

  HttpAnswer answer;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  answer.body = std::move(transfer.body);
  answer.retry_after = parse_retry_after(transfer.retry_after);
  if (answer.status >= 200 && answer.status < 300) return answer;

  const int status = static_cast<int>(answer.status);
  std::string message = extract_loki_message(answer.body);
  const std::string shown = message.empty() ? "(empty answer)" : message;
  const std::string suffix = " (Loki answered " + std::to_string(status) + " to " + what + ")";
  LokiError error;
  if (status == 429) {
    error = make_error(ErrorKind::rate_limited, codes::kRateLimited,
                       shown + suffix + "; Loki's ingestion or query rate limit was hit", status,
                       message);
  } else if (status == 401 || status == 403) {
    error =
        make_error(ErrorKind::unavailable, codes::kUnauthorized,
                   shown + suffix + "; check username/password or bearer_token", status, message);
  } else if (status == 413) {
    error =
        make_error(ErrorKind::limit_exceeded, codes::kBadRequest, shown + suffix, status, message);
  } else if (status >= 400 && status < 500) {
    error = make_error(ErrorKind::invalid_argument, codes::kBadRequest, shown + suffix, status,
                       message);
  } else if (status >= 500 && status < 600) {
    error =
        make_error(ErrorKind::unavailable, codes::kServerError, shown + suffix, status, message);
  } else {
    error = make_error(ErrorKind::unavailable, codes::kBadResponse,
                       "unexpected HTTP status" + suffix, status, message);
  }
  error.retry_after = answer.retry_after;
  return error;
}

LokiResult<json> LokiAdapter::get_json(const std::string& path, const Params& params,
                                       const std::string& tenant) {
  auto answer = perform(path, params, tenant, nullptr);
  if (!answer) return answer.error();

  json document = json::parse(answer.value().body, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return make_error(ErrorKind::unavailable, codes::kBadResponse,
                      "Loki's answer to GET " + path + " is not a JSON object; is " +
                          options_.endpoint + " a Loki server?",
                      static_cast<int>(answer.value().status));
  }
  return document;
}

LokiResult<json> LokiAdapter::get_data(const std::string& path, const Params& params,
                                       const std::string& tenant) {
  auto document = get_json(path, params, tenant);
  if (!document) return document.error();

  const std::string what = "GET " + path;
  const json& object = document.value();
  const auto status = object.find("status");
  if (status == object.end() || *status != "success") {
    return make_error(ErrorKind::unavailable, codes::kBadResponse,
                      "Loki's answer to " + what + " does not report \"status\":\"success\"",
                      200);
  }
  // Loki leaves an empty "data" out of label and series answers (omitempty);
  // that reads as null, which list readers take as empty and shape checks refuse.
  const auto data = object.find("data");
  if (data == object.end()) return json(nullptr);
  return std::move(document.value()[std::string("data")]);
}

LokiResult<Unit> LokiAdapter::ready() {
  auto answer = perform("/ready", {}, "", nullptr);
  if (answer) return Unit{};

  LokiError error = answer.error();
  if (error.http_status == 503) {
    error.error.code = codes::kNotReady;
    error.error.message = "Loki at " + options_.endpoint + " is not ready: " +
                          (error.loki_message.empty() ? "503" : error.loki_message);
  }
  return error;
}

LokiResult<Unit> LokiAdapter::push(const std::string& tenant, const PushRequest& request,
                                   PushFormat format) {
  return push_body(tenant, encode_push(request, format));
}

LokiResult<Unit> LokiAdapter::push_body(const std::string& tenant, const PushBody& body) {
  auto answer = perform("/loki/api/v1/push", {}, tenant, &body);
  if (!answer) return answer.error();
  return Unit{};
}

namespace {

LokiResult<QueryResult> to_query_result(LokiResult<json> data, const std::string& what) {
  if (!data) return data.error();
  auto parsed = query_result_from_json(data.value());
  if (!parsed) {
    return make_error(
        ErrorKind::unavailable, codes::kBadResponse,
        "Loki's answer to " + what + " has an unexpected shape: " + parsed.error().message);
  }
  return std::move(parsed).value();
}

LokiResult<std::vector<std::string>> to_strings(LokiResult<json> data, const std::string& what) {
  if (!data) return data.error();
  std::vector<std::string> out;
  const json& items = data.value();
  if (items.is_null()) return out;
  if (!items.is_array()) {
    return make_error(ErrorKind::unavailable, codes::kBadResponse,
                      "Loki's answer to " + what + " has no array of strings in \"data\"");
  }
  out.reserve(items.size());
  for (const auto& item : items) {
    if (!item.is_string()) {
      return make_error(ErrorKind::unavailable, codes::kBadResponse,
                        "Loki's answer to " + what + " holds a non-string in \"data\"");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

LokiResult<QueryResult> LokiAdapter::query_range(const std::string& tenant,
                                                 const std::string& logql, const TimeRange& range,
                                                 std::size_t limit, std::int64_t step_ns,
                                                 Direction direction) {
  Params params = {{"query", logql},
                   {"start", ns_param(range.start_ns)},
                   {"end", ns_param(range.end_ns)},
                   {"limit", std::to_string(limit)},
                   {"direction", to_string(direction)}};
  if (step_ns > 0) params.emplace_back("step", seconds_param(step_ns));
  const std::string path = "/loki/api/v1/query_range";
  return to_query_result(get_data(path, params, tenant), "GET " + path);
}

LokiResult<QueryResult> LokiAdapter::query(const std::string& tenant, const std::string& logql,
                                           std::int64_t time_ns, std::size_t limit,
                                           Direction direction) {
  const Params params = {{"query", logql},
                         {"time", ns_param(time_ns)},
                         {"limit", std::to_string(limit)},
                         {"direction", to_string(direction)}};
  const std::string path = "/loki/api/v1/query";
  return to_query_result(get_data(path, params, tenant), "GET " + path);
}

LokiResult<std::vector<std::string>> LokiAdapter::labels(const std::string& tenant,
                                                         const TimeRange& range) {
  const Params params = {{"start", ns_param(range.start_ns)}, {"end", ns_param(range.end_ns)}};
  const std::string path = "/loki/api/v1/labels";
  return to_strings(get_data(path, params, tenant), "GET " + path);
}

LokiResult<std::vector<std::string>> LokiAdapter::label_values(const std::string& tenant,
                                                               const std::string& name,
                                                               const TimeRange& range) {
  const Params params = {{"start", ns_param(range.start_ns)}, {"end", ns_param(range.end_ns)}};
  const std::string path = "/loki/api/v1/label/" + percent_encode(name) + "/values";
  return to_strings(get_data(path, params, tenant), "GET " + path);
}

LokiResult<std::vector<Labels>> LokiAdapter::series(const std::string& tenant,
                                                    const std::vector<std::string>& selectors,
                                                    const TimeRange& range) {
  Params params;
  for (const auto& selector : selectors) params.emplace_back("match[]", selector);
  params.emplace_back("start", ns_param(range.start_ns));
  params.emplace_back("end", ns_param(range.end_ns));
  const std::string path = "/loki/api/v1/series";
  const std::string what = "GET " + path;

  auto data = get_data(path, params, tenant);
  if (!data) return data.error();
  std::vector<Labels> out;
  if (data.value().is_null()) return out;
  if (!data.value().is_array()) {
    return make_error(ErrorKind::unavailable, codes::kBadResponse,
                      "Loki's answer to " + what + " has no array of label sets in \"data\"");
  }
  for (std::size_t i = 0; i < data.value().size(); ++i) {
    auto labels = labels_from_json(data.value()[i], "data[" + std::to_string(i) + "]");
    if (!labels) {
      return make_error(ErrorKind::unavailable, codes::kBadResponse,
                        "Loki's answer to " + what + ": " + labels.error().message);
    }
    out.push_back(std::move(labels).value());
  }
  return out;
}

namespace {

LokiError shape_error(const std::string& what, const std::string& detail) {
  return make_error(ErrorKind::unavailable, codes::kBadResponse,
                    "Loki's answer to " + what + " has an unexpected shape: " + detail);
}

/// A non-negative count that Loki writes as a number or a numeric string.
std::optional<std::uint64_t> read_count(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    if (number >= 0) return static_cast<std::uint64_t>(number);
    return std::nullopt;
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number >= 0 && std::isfinite(number)) return static_cast<std::uint64_t>(number);
    return std::nullopt;
  }
  if (value.is_string()) {
    std::uint64_t number = 0;
    const auto& text = value.get_ref<const std::string&>();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc() && end == text.data() + text.size()) return number;
  }
  return std::nullopt;
}

/// Unix seconds (integer, fractional, or numeric string) as nanoseconds.
std::optional<std::int64_t> read_seconds(const json& value) {
  double seconds = 0;
  if (value.is_number()) {
    seconds = value.get<double>();
  } else if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(seconds)) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(seconds * 1e9));
}

std::string join(const std::vector<std::string>& items, char separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

LokiResult<IndexStats> LokiAdapter::index_stats(const std::string& tenant,
                                                const std::string& selector,
                                                const TimeRange& range) {
  const Params params = {{"query", selector},
                         {"start", ns_param(range.start_ns)},
                         {"end", ns_param(range.end_ns)}};
  const std::string path = "/loki/api/v1/index/stats";
  auto document = get_json(path, params, tenant);
  if (!document) return document.error();

  // Loki omits a member that is zero.
  IndexStats stats;
  const std::pair<const char*, std::uint64_t*> members[] = {{"streams", &stats.streams},
                                                            {"chunks", &stats.chunks},
                                                            {"entries", &stats.entries},
                                                            {"bytes", &stats.bytes}};
  for (const auto& [name, target] : members) {
    const auto it = document.value().find(name);
    if (it == document.value().end() || it->is_null()) continue;
    const auto count = read_count(*it);
    if (!count) {
      return shape_error("GET " + path,
                         std::string("\"") + name + "\" is not a non-negative number");
    }
    *target = *count;
  }
  return stats;
}

LokiResult<QueryResult> LokiAdapter::index_volume(const std::string& tenant,
                                                  const VolumeRequest& request) {
  Params params = {{"query", request.selector},
                   {"start", ns_param(request.range.start_ns)},
                   {"end", ns_param(request.range.end_ns)},
                   {"limit", std::to_string(request.limit)}};
  // aggregateBy=series groups series by the target labels when there are any;
  // Loki's aggregateBy=labels means something else (bytes per label name).
  if (!request.target_labels.empty()) {
    params.emplace_back("targetLabels", join(request.target_labels, ','));
  }
  params.emplace_back("aggregateBy", "series");
  std::string path = "/loki/api/v1/index/volume";
  if (request.step_ns > 0) {
    path += "_range";
    params.emplace_back("step", seconds_param(request.step_ns));
  }
  return to_query_result(get_data(path, params, tenant), "GET " + path);
}

LokiResult<std::vector<LogPattern>> LokiAdapter::patterns(const std::string& tenant,
                                                          const std::string& selector,
                                                          const TimeRange& range,
                                                          std::int64_t step_ns) {
  Params params = {{"query", selector},
                   {"start", ns_param(range.start_ns)},
                   {"end", ns_param(range.end_ns)}};
  if (step_ns > 0) params.emplace_back("step", seconds_param(step_ns));
  const std::string path = "/loki/api/v1/patterns";
  const std::string what = "GET " + path;
  auto data = get_data(path, params, tenant);
  if (!data) return data.error();

  std::vector<LogPattern> out;
  if (data.value().is_null()) return out;
  if (!data.value().is_array()) return shape_error(what, "\"data\" is not an array");
  for (std::size_t i = 0; i < data.value().size(); ++i) {
    const json& item = data.value()[i];
    const std::string where = "data[" + std::to_string(i) + "]";
    if (!item.is_object() || !item.contains("pattern") || !item["pattern"].is_string()) {
      return shape_error(what, where + " has no string \"pattern\"");
    }
    LogPattern pattern;
    pattern.pattern = item["pattern"].get<std::string>();
    const auto samples = item.find("samples");
    if (samples != item.end() && !samples->is_null()) {
      if (!samples->is_array()) return shape_error(what, where + ".samples is not an array");
      for (const auto& sample : *samples) {
        const auto at = sample.is_array() && sample.size() == 2 ? read_seconds(sample[0])
                                                                : std::nullopt;
        const auto count = at ? read_count(sample[1]) : std::nullopt;
        if (!count) {
          return shape_error(what, where + ".samples holds a value that is not [time, count]");
        }
        pattern.samples.push_back({*at, static_cast<double>(*count)});
      }
    }
    out.push_back(std::move(pattern));
  }
  return out;
}

LokiResult<std::vector<DetectedField>> LokiAdapter::detected_fields(const std::string& tenant,
                                                                    const std::string& query,
                                                                    const TimeRange& range,
                                                                    std::size_t line_limit) {
  const Params params = {{"query", query},
                         {"start", ns_param(range.start_ns)},
                         {"end", ns_param(range.end_ns)},
                         {"line_limit", std::to_string(line_limit)}};
  const std::string path = "/loki/api/v1/detected_fields";
  const std::string what = "GET " + path;
  auto document = get_json(path, params, tenant);
  if (!document) return document.error();

  std::vector<DetectedField> out;
  const auto fields = document.value().find("fields");
  if (fields == document.value().end() || fields->is_null()) return out;
  if (!fields->is_array()) return shape_error(what, "\"fields\" is not an array");
  for (std::size_t i = 0; i < fields->size(); ++i) {
    const json& item = (*fields)[i];
    const std::string where = "fields[" + std::to_string(i) + "]";
    if (!item.is_object() || !item.contains("label") || !item["label"].is_string()) {
      return shape_error(what, where + " has no string \"label\"");
    }
    DetectedField field;
    field.label = item["label"].get<std::string>();
    if (const auto type = item.find("type"); type != item.end() && type->is_string()) {
      field.type = type->get<std::string>();
    }
    if (const auto cardinality = item.find("cardinality"); cardinality != item.end()) {
      const auto count = read_count(*cardinality);
      if (!count) return shape_error(what, where + ".cardinality is not a count");
      field.cardinality = *count;
    }
    if (const auto parsers = item.find("parsers");
        parsers != item.end() && !parsers->is_null()) {
      if (!parsers->is_array()) return shape_error(what, where + ".parsers is not an array");
      for (const auto& parser : *parsers) {
        if (!parser.is_string()) return shape_error(what, where + ".parsers holds a non-string");
        field.parsers.push_back(parser.get<std::string>());
      }
    }
    out.push_back(std::move(field));
  }
  return out;
}

LokiResult<BuildInfo> LokiAdapter::build_info() {
  const std::string path = "/loki/api/v1/status/buildinfo";
  auto document = get_json(path, {}, "");
  if (!document) return document.error();
  const auto text = [&](const char* name) {
    const auto it = document.value().find(name);
    return it != document.value().end() && it->is_string() ? it->get<std::string>()
                                                           : std::string();
  };
  BuildInfo info{text("version"), text("revision"), text("branch"), text("goVersion")};
  if (info.version.empty()) {
    return shape_error("GET " + path, "no string \"version\"");
  }
  return info;
}

}  // namespace lognurse::loki
