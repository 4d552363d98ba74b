#include "ingest_routes.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <optional>

#include "http_connection.hpp"
#include "lognurse/host_api/shortened.hpp"
#include "lognurse/host_api/time.hpp"
#include "otlp.hpp"
#include "push_decoders.hpp"
#include "rest_tools.hpp"

namespace lognurse::host {

namespace {

constexpr const char* kLokiPushPath = "/loki/api/v1/push";
constexpr const char* kOtlpLogsPath = "/otlp/v1/logs";
constexpr const char* kProtobuf = "application/x-protobuf";
constexpr const char* kJson = "application/json";

/// A client told to come back after a rate limit or an outage waits this many seconds; the
/// ingestion rate limiter refills a burst's worth of tokens within about a second.
constexpr const char* kRetryAfterSeconds = "1";

/// At most this many records of one OTLP request are refused one by one before the request
/// is refused as a whole.
constexpr std::size_t kMaxRefusedRecords = 100;

std::string tenant_of(const httplib::Request& req) {
  const auto tenant = req.get_header_value("X-Scope-OrgID");
  return tenant.empty() ? std::string(kDefaultTenant) : tenant;
}

void set_retry_after(httplib::Response& res) {
  if (res.status == 429 || res.status == 503) res.set_header("Retry-After", kRetryAfterSeconds);
}

/// Loki answers push errors as plain text.
void send_loki_error(httplib::Response& res, const Error& error) {
  res.status = ingest_http_status(error);
  set_retry_after(res);
  res.set_content(shortened(error.message) + "\n", "text/plain; charset=utf-8");
}

std::string media_type(const std::string& content_type) {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

/// Reads and drops the body of a refused request, so that the next request on a kept-alive
/// connection starts where it should; stops at `max_bytes`.
void discard_body(const httplib::ContentReader& content_reader, std::size_t max_bytes) {
  std::size_t seen = 0;
  content_reader([&](const char*, std::size_t length) {
    seen += length;
    return seen <= max_bytes;
  });
}

/// Reads the whole body through httplib's reader, which undoes gzip, deflate and br
/// Content-Encoding, stopping as soon as the decoded bytes pass `max_bytes`.
Result<std::string> read_body(const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& content_reader, std::size_t max_bytes) {
  const std::string encoding = req.get_header_value("Content-Encoding");
  // httplib passes bodies of encodings it does not know through undecoded.
  if (!encoding.empty() && encoding != "gzip" && encoding != "deflate" && encoding != "br" &&
      encoding != "identity" && encoding != "snappy") {
    discard_body(content_reader, max_bytes);
    return invalid_argument("http.unsupported_encoding",
                            "unsupported Content-Encoding \"" + encoding +
                                "\"; send the body plain or with gzip, deflate or br");
  }
  // Loki ignores "Content-Encoding: snappy" on protobuf pushes, whose bodies are always
  // snappy blocks; some clients send it. httplib leaves such bodies as they are.
  if (encoding == "snappy" && media_type(req.get_header_value("Content-Type")) != kProtobuf) {
    discard_body(content_reader, max_bytes);
    return invalid_argument("http.unsupported_encoding",
                            "Content-Encoding \"snappy\" is only accepted on "
                            "application/x-protobuf pushes, whose bodies are snappy blocks");
  }

  std::string body;
  bool too_large = false;
  const bool complete = content_reader([&](const char* data, std::size_t length) {
    if (body.size() + length > max_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, length);
    return true;
  });
  // A body read only in part leaves the connection at an unknown place: close it.
  if (too_large || !complete) res.set_header("Connection", "close");
  if (too_large) {
    return limit_exceeded("push.body_too_large",
                          "the request body is larger than " + std::to_string(max_bytes) +
                              " bytes" +
                              (encoding.empty() ? "" : " once decoded from " + encoding) +
                              "; send smaller batches or raise server.max_body_bytes");
  }
  if (!complete) {
    const auto stored = encoding == "identity" || encoding == "snappy" ? std::string() : encoding;
    if (res.status == 413) {
      return limit_exceeded("push.body_too_large",
                            "the request body is larger than the server's limit; send smaller "
                            "batches or raise server.max_body_bytes");
    }
    if (const std::string problem = HostHttpListener::request_chunk_problem();
        !problem.empty()) {
      return invalid_argument("http.bad_chunked_body", HostHttpListener::chunk_refusal(problem));
    }
    if (!stored.empty()) {
      return invalid_argument("http.bad_encoding", "the request body is not valid " + stored +
                                                       " data (Content-Encoding: " + stored +
                                                       "); compress it with " + stored +
                                                       " or drop the header");
    }
    return invalid_argument("http.incomplete_body",
                            "the request body ended before its declared length");
  }
  return body;
}

/// Reads the entry or stream a store refusal names: "streams[2].values[7]: ..." gives
/// {2, 7}; "streams[2]: ..." gives {2, nullopt}.
std::optional<std::pair<std::size_t, std::optional<std::size_t>>> refusal_location(
    const std::string& message) {
  auto number = [&](std::size_t& pos, std::size_t& out) {
    const auto [end, ec] =
        std::from_chars(message.data() + pos, message.data() + message.size(), out);
    if (ec != std::errc() || end == message.data() + pos) return false;
    pos = static_cast<std::size_t>(end - message.data());
    return true;
  };
  const std::string stream_prefix = "streams[";
  if (message.rfind(stream_prefix, 0) != 0) return std::nullopt;
  std::size_t pos = stream_prefix.size();
  std::size_t stream = 0;
  if (!number(pos, stream) || pos >= message.size() || message[pos] != ']') return std::nullopt;
  ++pos;
  if (message.compare(pos, 1, ":") == 0)
    return std::make_pair(stream, std::optional<std::size_t>());
  const std::string entry_prefix = ".values[";
  if (message.compare(pos, entry_prefix.size(), entry_prefix) != 0) return std::nullopt;
  pos += entry_prefix.size();
  std::size_t entry = 0;
  if (!number(pos, entry) || message.compare(pos, 2, "]:") != 0) return std::nullopt;
  return std::make_pair(stream, std::optional<std::size_t>(entry));
}

int grpc_code(const Error& error) {
  switch (error.kind) {
    case ErrorKind::invalid_argument:
    case ErrorKind::limit_exceeded:
      return 3;
    case ErrorKind::rate_limited:
      return 8;
    case ErrorKind::unavailable:
      return 14;
    case ErrorKind::timeout:
      return 4;
    default:
      return 13;
  }
}

/// OTLP/HTTP errors carry a google.rpc.Status in the request's encoding.
void send_otlp_error(httplib::Response& res, const Error& error, bool json) {
  res.status = ingest_http_status(error);
  set_retry_after(res);
  if (json) {
    res.set_content(otlp_status_json(grpc_code(error), shortened(error.message)), kJson);
  } else {
    res.set_content(otlp_status_protobuf(grpc_code(error), shortened(error.message)), kProtobuf);
  }
}

void handle_loki_push(registry::Registry& registry, std::size_t max_body_bytes,
                      const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& content_reader) {
  auto body = read_body(req, res, content_reader, max_body_bytes);
  if (!body) {
    send_loki_error(res, body.error());
    return;
  }
  auto request = decode_push_body(req.get_header_value("Content-Type"), body.value(),
                                  tenant_of(req), max_body_bytes);
  if (!request) {
    spdlog::warn("push refused for tenant {}: {}: {}", tenant_of(req), request.error().code,
                 shortened(request.error().message));
    send_loki_error(res, request.error());
    return;
  }
  auto backend = registry.log_aggregation();
  if (!backend) {
    send_loki_error(res, unavailable("push.no_backend", "no log_aggregation backend is loaded"));
    return;
  }
  auto pushed = backend->push(request.value());
  if (!pushed) {
    spdlog::warn("push refused for tenant {}: {}: {}", request.value().tenant, pushed.error().code,
                 shortened(pushed.error().message));
    send_loki_error(res, pushed.error());
    return;
  }
  res.status = 204;
}

void handle_otlp_logs(registry::Registry& registry, std::size_t max_body_bytes,
                      const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& content_reader) {
  const std::string type = media_type(req.get_header_value("Content-Type"));
  const bool json = type == kJson;
  if (!json && type != kProtobuf) {
    discard_body(content_reader, max_body_bytes);
    res.status = 415;
    res.set_content("unsupported Content-Type \"" + req.get_header_value("Content-Type") +
                        "\"; OTLP/HTTP takes application/x-protobuf or application/json\n",
                    "text/plain; charset=utf-8");
    return;
  }
  // OTLP bodies are never snappy blocks: without this, read_body would pass one through
  // undecoded and the decoder would refuse it as malformed, hiding the real fault.
  if (req.get_header_value("Content-Encoding") == "snappy") {
    discard_body(content_reader, max_body_bytes);
    send_otlp_error(res,
                    invalid_argument("http.unsupported_encoding",
                                     "Content-Encoding \"snappy\" is not an OTLP/HTTP encoding; "
                                     "send the body plain or with gzip, deflate or br"),
                    json);
    return;
  }
  auto body = read_body(req, res, content_reader, max_body_bytes);
  if (!body) {
    send_otlp_error(res, body.error(), json);
    return;
  }
  auto logs = json ? otlp_logs_from_json(body.value()) : otlp_logs_from_protobuf(body.value());
  if (!logs) {
    spdlog::warn("otlp logs refused for tenant {}: {}: {}", tenant_of(req), logs.error().code,
                 shortened(logs.error().message));
    send_otlp_error(res, logs.error(), json);
    return;
  }
  auto backend = registry.log_aggregation();
  if (!backend) {
    send_otlp_error(res, unavailable("push.no_backend", "no log_aggregation backend is loaded"),
                    json);
    return;
  }
  const std::size_t records = logs.value().record_count();
  auto outcome = push_refusing_entries(
      *backend, otlp_logs_to_push(logs.value(), tenant_of(req), now_ns()), kMaxRefusedRecords);
  if (!outcome) {
    spdlog::warn("otlp logs refused for tenant {}: {}: {}", tenant_of(req), outcome.error().code,
                 shortened(outcome.error().message));
    send_otlp_error(res, outcome.error(), json);
    return;
  }
  const auto& [rejected, message] = outcome.value();
  if (records > 0 && rejected == records) {
    send_otlp_error(res,
                    invalid_argument("otlp.all_records_refused",
                                     "every log record was refused; the first: " + message),
                    json);
    return;
  }
  if (rejected > 0) {
    spdlog::warn("otlp logs for tenant {}: {} of {} records refused: {}", tenant_of(req), rejected,
                 records, message);
  }
  const auto count = static_cast<std::int64_t>(rejected);
  res.status = 200;
  if (json) {
    res.set_content(otlp_response_json(count, message), kJson);
  } else {
    res.set_content(otlp_response_protobuf(count, message), kProtobuf);
  }
}

}  // namespace

bool decodes_compressed_bodies(const std::string& path) {
  return path == kLokiPushPath || path == kOtlpLogsPath;
}

int ingest_http_status(const Error& error) {
  if (error.code == "push.unsupported_content_type" || error.code == "http.unsupported_encoding") {
    return 415;
  }
  if (error.code == "push.body_too_large") return 413;
  return error.http_status();
}

Result<OtlpPushOutcome> push_refusing_entries(LogAggregationProtocol& backend, PushRequest request,
                                              std::size_t max_refusals) {
  OtlpPushOutcome outcome;
  std::size_t refusals = 0;
  for (;;) {
    bool empty = true;
    for (const auto& stream : request.streams) empty = empty && stream.entries.empty();
    if (empty) return outcome;

    auto pushed = backend.push(request);
    if (pushed) return outcome;
    const Error& error = pushed.error();
    const bool entry_fault =
        error.kind == ErrorKind::invalid_argument || error.kind == ErrorKind::limit_exceeded;
    auto location = entry_fault ? refusal_location(error.message) : std::nullopt;
    if (!location || location->first >= request.streams.size() || refusals >= max_refusals) {
      return error;
    }
    auto& stream = request.streams[location->first];
    if (location->second) {
      if (*location->second >= stream.entries.size()) return error;
      stream.entries.erase(stream.entries.begin() + static_cast<std::ptrdiff_t>(*location->second));
      outcome.rejected += 1;
    } else {
      outcome.rejected += stream.entries.size();
      request.streams.erase(request.streams.begin() + static_cast<std::ptrdiff_t>(location->first));
    }
    if (outcome.message.empty()) outcome.message = error.message;
    ++refusals;
  }
}

void install_ingest_routes(httplib::Server& server, registry::Registry& registry,
                           std::size_t max_body_bytes) {
  server.Post(kLokiPushPath,
              [&registry, max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& content_reader) {
                handle_loki_push(registry, max_body_bytes, req, res, content_reader);
              });
  server.Post(kOtlpLogsPath,
              [&registry, max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& content_reader) {
                handle_otlp_logs(registry, max_body_bytes, req, res, content_reader);
              });
  // Both take POST only: any other method is told so.
  for (const char* path : {kLokiPushPath, kOtlpLogsPath}) refuse_other_methods(server, path, "POST");
}

}  // namespace lognurse::host
