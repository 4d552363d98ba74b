#pragma once

// Bodies of Loki's push endpoint: JSON (application/json) and the protobuf
// PushRequest of Loki's push.proto compressed with snappy's block format
// (application/x-protobuf), which is what Promtail and most agents send.
//
// The protobuf encoder is written by hand from push.proto's field numbers so
// that the plugin needs no generated code and no protobuf runtime:
//   PushRequest      { repeated StreamAdapter streams = 1; }
//   StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
//   EntryAdapter     { Timestamp timestamp = 1; string line = 2;
//                      repeated LabelPairAdapter structuredMetadata = 3; }
//   LabelPairAdapter { string name = 1; string value = 2; }
//   Timestamp        { int64 seconds = 1; int32 nanos = 2; }

#include <span>
#include <string>

#include "lognurse/host_api/types.hpp"

namespace lognurse::loki {

/// How pushes are encoded on the wire.
enum class PushFormat { json, protobuf };

/// "json" or "protobuf".
const char* to_string(PushFormat format);

/// An encoded push body with its Content-Type.
struct PushBody {
  std::string content_type;
  std::string bytes;
};

/// The JSON push body, written straight into one string without building a
/// JSON document: byte for byte what push_request_to_json(request).dump()
/// gives. Labels and metadata are written sorted by name, the last value of a
/// repeated name winning; strings are escaped per RFC 8259 (\" \\ \b \t \n
/// \f \r, other control characters as \u00xx), valid UTF-8 is copied as is.
/// Like dump(), throws nlohmann::json::type_error (316) at the first string
/// that is not valid UTF-8, naming the byte's index in that string, so the
/// batch holding it fails rather than reaching Loki altered.
std::string encode_push_json(const PushRequest& request);

/// The JSON body of one push holding the streams of all `parts` in order, as
/// encode_push_json of their merged streams would write it.
std::string encode_push_json(std::span<const PushRequest* const> parts);

/// The uncompressed protobuf PushRequest. Stream labels are rendered in
/// Prometheus form ({a="x", b="y"}) as Loki expects in StreamAdapter.labels.
std::string encode_push_protobuf(const PushRequest& request);

/// The protobuf PushRequest holding the streams of all `parts` in order.
std::string encode_push_protobuf(std::span<const PushRequest* const> parts);

/// The body for `format`: encode_push_json, or the protobuf message
/// compressed with snappy. Linear in the size of the request.
PushBody encode_push(const PushRequest& request, PushFormat format);

/// The body of one push holding the streams of all `parts` in order, which
/// lets a batch of requests be sent without merging them into one first.
PushBody encode_push(std::span<const PushRequest* const> parts, PushFormat format);

}  // namespace lognurse::loki
