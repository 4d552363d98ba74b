#pragma once

// The store's SQLite schema and its migrations.
//
// Version 2 (the current one):
//   schema_version(version)                   one row: the applied version
//   streams(id, tenant, labels_key, fingerprint, service, min_ns, max_ns, created_ns)
//       one row per tenant and label set; labels_key is the canonical rendering
//       {a="x", b="y"} (unique per tenant), fingerprint its 64-bit FNV-1a,
//       service the classification used by metrics, min_ns/max_ns the bounds
//       of every timestamp ever stored in the stream
//   label_postings(tenant, name, value, stream_id)   the posting index, WITHOUT ROWID
//   chunks(id, stream_id, seq, compacted, min_ns, max_ns, entries, line_bytes,
//          levels, created_ns, data)
//       blocks of entries of one stream (format in chunk_format.hpp): head
//       blocks written by pushes (compacted = 0, data uncompressed) and
//       chunks cut from them by the compactor (compacted = 1, data zstd);
//       indexed by (stream_id, min_ns) for scans, (max_ns) for retention and
//       (compacted, stream_id) for the compactor; see chunks.hpp
//   chunk_filters(chunk_id, bits)             the n-gram filter of a compacted chunk
//   counters(name, value)                      running totals: "entries", "bytes"
//
// Version 1 kept one row per entry in entries(id, stream_id, ts, line,
// metadata, level); the upgrade to version 2 moves those rows into head
// blocks, in order, and drops the table.

#include "lognurse/host_api/result.hpp"
#include "sqlite.hpp"

namespace lognurse::local_store {

/// The schema version this build writes.
inline constexpr int kSchemaVersion = 2;

/// Creates the schema in an empty database or upgrades an older one, in one transaction.
/// Fails with "store.schema_too_new" on a database written by a newer build.
Result<int> migrate(Connection& connection);

}  // namespace lognurse::local_store
