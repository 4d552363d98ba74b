#pragma once

// The store's SQLite schema and its migrations.
//
// Version 1:
//   schema_version(version)                   one row: the applied version
//   streams(id, tenant, labels_key, fingerprint, service, min_ns, max_ns, created_ns)
//       one row per tenant and label set; labels_key is the canonical rendering
//       {a="x", b="y"} (unique per tenant), fingerprint its 64-bit FNV-1a,
//       service the classification used by metrics, min_ns/max_ns the bounds
//       of every timestamp ever stored in the stream
//   label_postings(tenant, name, value, stream_id)   the posting index, WITHOUT ROWID
//   entries(id, stream_id, ts, line, metadata, level)
//       the head: line is a BLOB (bytes as received), metadata a JSON object
//       or NULL, level the classification used by metrics; indexed by
//       (stream_id, ts) for per-stream scans and (ts, stream_id) for scans
//       across many streams
//   counters(name, value)                      running totals: "entries", "bytes"
//
// The layout leaves room for a compactor: entries are addressed by stream
// and time only, so a later version can move a stream's old rows into a
// chunks(stream_id, min_ns, max_ns, codec, data) table of zstd blocks and
// delete them from the head in one transaction, with scans reading both.

#include "lognurse/host_api/result.hpp"
#include "sqlite.hpp"

namespace lognurse::local_store {

/// The schema version this build writes.
inline constexpr int kSchemaVersion = 1;

/// Creates the schema in an empty database or upgrades an older one, in one transaction.
/// Fails with "store.schema_too_new" on a database written by a newer build.
Result<int> migrate(Connection& connection);

}  // namespace lognurse::local_store
