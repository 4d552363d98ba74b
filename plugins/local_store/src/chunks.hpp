#pragma once

// The chunks table: writing blocks of entries and reading them back.
//
// Every stored entry lives in a row of `chunks`. A push writes one head block
// per stream (uncompressed, compacted = 0); the compactor merges a stream's
// head blocks into chunks compressed with zstd (compacted = 1), each with an
// n-gram filter in `chunk_filters`. Rows carry the time bounds, counts and
// per-level totals, so that index statistics and metrics read whole chunks
// without decoding them.
//
// Order: `seq` orders blocks of a stream by arrival. A head block takes the
// next sequence number; a chunk made from head blocks takes the largest of
// theirs, so it still sorts before every block that arrived after them.
// Entries with equal timestamps in one stream are returned by (seq, id,
// position in the block).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block_pool.hpp"
#include "chunk_format.hpp"
#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "sqlite.hpp"

struct sqlite3_blob;

namespace lognurse::local_store {

/// One row of `chunks` without its data.
struct ChunkRef {
  std::int64_t id = 0;
  std::int64_t stream_id = 0;
  std::int64_t seq = 0;
  bool compacted = false;
  std::int64_t min_ns = 0;
  std::int64_t max_ns = 0;
  std::uint64_t entries = 0;
  std::uint64_t line_bytes = 0;
  std::string levels;  ///< encode_level_totals()

  /// Whether every entry of the chunk lies in `range`.
  bool inside(const TimeRange& range) const {
    return min_ns >= range.start_ns && max_ns < range.end_ns;
  }
};

/// "level\tentries\tbytes\n" per level.
std::string encode_level_totals(const std::vector<BlockBuilder::LevelTotals>& totals);
std::vector<BlockBuilder::LevelTotals> decode_level_totals(std::string_view text);

/// A block ready to be written: encoded, and compressed with its filter when compacted.
struct EncodedChunk {
  bool compacted = false;
  std::int64_t min_ns = 0;
  std::int64_t max_ns = 0;
  std::uint64_t entries = 0;
  std::uint64_t line_bytes = 0;
  std::string levels;
  std::string data;
  std::string filter;
};

/// Finishes `block` into a head block or a compacted chunk (compressed with `encoding`).
/// Encoding and compression run here, so that a writer can do them before it takes the
/// write lock.
Result<EncodedChunk> encode_chunk(BlockBuilder& block, bool compacted,
                                  ChunkEncoding encoding = ChunkEncoding::lz4);

/// Visits the chunks of a stream that hold entries in `range` (see ChunkStatements::list):
/// `whole(ref)` for a chunk entirely inside it, `part(ref, block, first, last)` with the
/// decoded block and the positions [first, last) of its entries in the range for the others
/// (not called when no entry is in the range).
template <typename Statements, typename Whole, typename Part>
Status visit_range(Statements& chunks, std::int64_t stream_id, const TimeRange& range,
                   Whole&& whole, Part&& part) {
  auto refs = chunks.list(stream_id, range);
  if (!refs) return refs.error();
  for (const auto& ref : refs.value()) {
    if (ref.inside(range)) {
      auto status = whole(ref);
      if (!status) return status;
      continue;
    }
    auto block = chunks.load(ref);
    if (!block) return block.error();
    const std::size_t first = block.value().lower_bound(range.start_ns);
    const std::size_t last = block.value().lower_bound(range.end_ns);
    if (first >= last) continue;
    auto status = part(ref, block.value(), first, last);
    if (!status) return status;
  }
  return success();
}

/// Prepared statements over the chunk tables of one connection.
class ChunkStatements {
public:
  /// Blocks that load() decodes take their memory from `pool`, which must outlive them.
  static Result<ChunkStatements> prepare(Connection& connection,
                                         BlockPool& pool = BlockPool::unpooled());

  /// Writes one row (and the filter of a compacted chunk). Returns the new row's id.
  Result<std::int64_t> insert(std::int64_t stream_id, std::int64_t seq, std::int64_t created_ns,
                              const EncodedChunk& chunk);

  /// Chunks of a stream that may hold entries in `range`, in no particular order.
  Result<std::vector<ChunkRef>> list(std::int64_t stream_id, const TimeRange& range);

  /// Head blocks of a stream in arrival order, at most `limit`.
  Result<std::vector<ChunkRef>> head_blocks(std::int64_t stream_id, std::size_t limit);

  /// The chunk's entries.
  Result<DecodedBlock> load(const ChunkRef& chunk);

  /// Entries of the chunk in `range` and their line bytes; a head block is counted in place.
  Result<RangeCount> count(const ChunkRef& chunk, const TimeRange& range);

  /// A chunk's data as stored (compressed for a compacted chunk), copied for decoding
  /// elsewhere into memory from a block pool, which reuses it once given back.
  struct StoredBytes {
    BlockPool::Buffer buffer;
    std::size_t size = 0;
    std::string_view view() const { return {buffer.data(), size}; }
  };

  /// The chunk's data as stored, in memory from `pool`. Read with an incremental blob
  /// handle straight into that memory (a query reads chunk after chunk: no copy through
  /// SQLite's own buffer); end_reads() closes the handle.
  Result<StoredBytes> stored_bytes(const ChunkRef& chunk, BlockPool& pool);

  /// Closes what stored_bytes() keeps open, which would otherwise hold the connection's
  /// read transaction open; call before the transaction ends.
  void end_reads() { blob_.reset(); }

  /// The chunk's n-gram filter; empty when it has none.
  Result<std::string> filter(std::int64_t chunk_id);

  /// Deletes a chunk and its filter.
  Status remove(std::int64_t chunk_id);

private:
  Connection* connection_ = nullptr;
  BlockPool* pool_ = nullptr;
  Statement insert_;
  Statement insert_filter_;
  Statement list_;
  Statement head_;
  Statement data_;
  Statement filter_;
  Statement delete_;
  Statement delete_filter_;
  struct BlobCloser {
    void operator()(sqlite3_blob* blob) const;
  };
  std::unique_ptr<sqlite3_blob, BlobCloser> blob_;  ///< over chunks.data, for stored_bytes()
};

}  // namespace lognurse::local_store
