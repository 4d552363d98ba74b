#pragma once

// The ingest routes of the host's listener: Loki's push API
// (POST /loki/api/v1/push, JSON or snappy-compressed protobuf) and OTLP/HTTP
// logs (POST /otlp/v1/logs, protobuf or JSON). Both accept gzip and deflate
// Content-Encoding, bounded after decompression so that a small compressed
// body cannot expand past the body limit.

#include <cstddef>
#include <string>

#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "lognurse/registry/registry.hpp"

namespace httplib {
class Server;
}

namespace lognurse::host {

/// Registers both routes on `server`; `max_body_bytes` bounds a body after decompression
/// (and a snappy body's uncompressed size).
void install_ingest_routes(httplib::Server& server, registry::Registry& registry,
                           std::size_t max_body_bytes);

/// Whether `path` is one of the ingest routes, the only ones that decode a compressed body
/// with a bound on its decoded size. httplib decodes the body of every other route whole
/// before a handler sees it, so the listener refuses Content-Encoding on those.
bool decodes_compressed_bodies(const std::string& path);

/// The HTTP status for an ingest error: 415 for an unsupported content type or encoding, 413
/// for a body over the limit, else the error kind's status.
int ingest_http_status(const Error& error);

/// What pushing OTLP records stored: records refused one by one (partial success) and the
/// first refusal's message, or a failure of the whole request.
struct OtlpPushOutcome {
  std::size_t rejected = 0;
  std::string message;
};

/// Pushes `request` through `backend`, refusing single entries rather than the whole batch:
/// when the backend refuses the push for an entry or stream it names by location
/// ("streams[2].values[7]: ..." or "streams[2]: ..."), that entry or stream is removed and the
/// rest pushed again. At most `max_refusals` entries or streams are removed this way; past
/// that, and for any error without a location (rate limits, an unavailable backend), the
/// error is returned and nothing is stored.
Result<OtlpPushOutcome> push_refusing_entries(LogAggregationProtocol& backend, PushRequest request,
                                              std::size_t max_refusals);

}  // namespace lognurse::host
