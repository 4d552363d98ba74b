#pragma once

// Decoders of Loki's push bodies: the JSON form (host_api's parser) and the
// protobuf form from Loki's push.proto, compressed with snappy's block format
// as Promtail, the Collector's Loki exporter and winston-loki send it.
//
// push.proto, by field number:
//   PushRequest      { repeated StreamAdapter streams = 1; }
//   StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//   EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
//                      repeated LabelPairAdapter structuredMetadata = 3; }
//   LabelPairAdapter { string name = 1; string value = 2; }
//   Timestamp        { int64 seconds = 1; int32 nanos = 2; }
// Unknown fields are skipped, as protobuf readers must.

#include <cstddef>
#include <string>
#include <string_view>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::host {

/// Parses a LogQL-style label set, {name="value", other=`raw`}, as StreamAdapter.labels
/// carries it. Values are Go-quoted strings (\", \\, \n, \t, \xHH, \uHHHH...) or backtick raw
/// strings. Errors name the byte offset. The result is sorted (see normalize_labels).
Result<Labels> parse_label_set(std::string_view text);

/// Decodes a PushRequest message (already uncompressed). Errors ("push.malformed_protobuf")
/// name the byte offset and, once inside a stream, the stream and entry index.
Result<PushRequest> push_request_from_protobuf(std::string_view message, const std::string& tenant);

/// Uncompresses a snappy block (not the framed format). Fails with "push.bad_snappy" when the
/// data is not a valid block and with "push.body_too_large" (limit_exceeded) when it would
/// uncompress to more than `max_bytes`, before allocating anything.
Result<std::string> snappy_uncompress(std::string_view compressed, std::size_t max_bytes);

/// The format of a push body chosen from its Content-Type, as Loki does, with one courtesy:
/// a body of another declared type (curl's default form type) that starts with '{' is JSON.
enum class PushFormat { json, protobuf };

/// Picks the format, or fails with "push.unsupported_content_type" (415) naming the type and
/// the two accepted ones.
Result<PushFormat> push_format(std::string_view content_type, std::string_view body);

/// Decodes a push body of either format; protobuf bodies are snappy-uncompressed first,
/// bounded by `max_bytes`.
Result<PushRequest> decode_push_body(std::string_view content_type, std::string_view body,
                                     const std::string& tenant, std::size_t max_bytes);

}  // namespace lognurse::host
