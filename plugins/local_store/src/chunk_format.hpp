#pragma once

// The byte format of the store's blocks of entries, and the n-gram filter of
// compacted chunks.
//
// A block holds entries of one stream sorted by timestamp (ties keep arrival
// order). It is laid out in columns so that a line filter can search all
// lines of a block with one substring search:
//
//   u8      format version (1)
//   varint  entry count n
//   varint  level count L, then L times: varint length, bytes   (level names)
//   varint  size of the entry section in bytes
//   entry section, n times:
//     varint  timestamp: zigzag of the first, then the delta to the previous
//     varint  index of the entry's level in the level names
//     varint  line length
//     varint  structured metadata length, then that many bytes, which are
//             varint pair count, then per pair varint length + name,
//             varint length + value
//   line section: the n lines, concatenated
//
// A head block (written by one push) is stored as it is; a compacted chunk is
// the same bytes compressed, as a zstd frame (level 1; such a frame starts with
// the byte 0x28) or, with chunk_encoding lz4, as the byte 0x04, a varint of the
// block's size and one lz4 block. Both read whatever the configured encoding.
// Every length is checked on decoding: a damaged block fails with
// "store.corrupt", it never reads out of bounds.
//
// NgramFilter: a Bloom filter over every 4-byte window of a chunk's line
// section, with two probes per window. A literal of 4 bytes or more can only
// occur in the chunk if all its windows are in the filter, so a chunk whose
// filter lacks one is skipped without being read. Its size is a fixed number
// of bits per byte of lines (kFilterBitsPerLineByte).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block_pool.hpp"
#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::local_store {

/// Filter bits per byte of lines: 0.5 (a filter is 1/16 of the raw lines).
inline constexpr double kFilterBitsPerLineByte = 0.5;

/// Encodes structured metadata in the block's pair format, sorted by name.
std::string encode_metadata_pairs(const Labels& metadata);

/// Decodes the pair format into `out` (cleared first); false when malformed.
bool decode_metadata_pairs(std::string_view bytes, Labels& out);

/// Collects entries and writes one block.
class BlockBuilder {
public:
  /// Adds an entry; `line` and `metadata` (pair format) must stay valid until finish()
  /// returns; `level` is copied.
  void add(std::int64_t timestamp_ns, std::string_view line, std::string_view metadata,
           std::string_view level);

  /// Adds an entry whose metadata is given as labels; the builder keeps the encoding.
  void add(std::int64_t timestamp_ns, std::string_view line, const Labels& metadata,
           std::string_view level);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::uint64_t line_bytes() const { return line_bytes_; }

  /// Sorts by timestamp (stably) and returns the block's bytes.
  std::string finish();

  /// Per level: entries and line bytes, of everything added.
  struct LevelTotals {
    std::string level;
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
  };
  std::vector<LevelTotals> level_totals() const;

  std::int64_t min_ns() const { return min_ns_; }
  std::int64_t max_ns() const { return max_ns_; }

  /// Forgets everything added.
  void clear();

private:
  struct Pending {
    std::int64_t timestamp_ns;
    std::string_view line;
    std::string_view metadata;
    std::uint32_t level;
  };
  std::uint32_t level_index(std::string_view level);

  std::vector<Pending> entries_;
  std::vector<std::string> levels_;
  std::deque<std::string> owned_;
  std::uint64_t line_bytes_ = 0;
  std::int64_t min_ns_ = 0;
  std::int64_t max_ns_ = 0;
};

/// A block decoded for reading. Views point into its own buffers, which come from a
/// BlockPool and go back to it when the block is destroyed: the pool must outlive the block.
class DecodedBlock {
public:
  /// Copies the block's bytes (already decompressed) and indexes them; memory from `pool`.
  static Result<DecodedBlock> decode(std::string_view bytes,
                                     BlockPool& pool = BlockPool::unpooled());

  /// Decompresses a compress_block() chunk, of either encoding, and indexes it; memory from
  /// `pool`.
  static Result<DecodedBlock> decompress(std::string_view frame,
                                         BlockPool& pool = BlockPool::unpooled());

  DecodedBlock();
  ~DecodedBlock();
  DecodedBlock(DecodedBlock&&) noexcept;
  DecodedBlock& operator=(DecodedBlock&&) noexcept;

  std::size_t size() const { return count_; }
  std::int64_t timestamp(std::size_t i) const { return timestamps_[i]; }
  std::string_view line(std::size_t i) const {
    return std::string_view(bytes_ + lines_offset_ + line_offsets_[i],
                            line_offsets_[i + 1] - line_offsets_[i]);
  }
  std::size_t line_size(std::size_t i) const { return line_offsets_[i + 1] - line_offsets_[i]; }
  std::string_view metadata(std::size_t i) const {
    return std::string_view(bytes_ + metadata_[i].offset, metadata_[i].size);
  }
  std::string_view level(std::size_t i) const {
    const Slice& name = levels_[level_of_[i]];
    return std::string_view(bytes_ + name.offset, name.size);
  }

  /// The first index whose timestamp is >= ts (entries are sorted).
  std::size_t lower_bound(std::int64_t ts) const;

  /// Indices in [first, last) whose line contains every literal, in ascending order. The
  /// first literal is searched over the whole line section at once.
  std::vector<std::uint32_t> matching(std::size_t first, std::size_t last,
                                      const std::vector<std::string>& literals) const;

  /// The line section: every line, concatenated.
  std::string_view lines() const;

  struct Slice {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
  };

private:
  static Result<DecodedBlock> index(DecodedBlock block, std::size_t size, BlockPool& pool);
  void clear_views();

  BlockPool::Buffer bytes_buffer_;  // the block's bytes, decompressed
  BlockPool::Buffer index_buffer_;  // the arrays below, laid out by index()
  // Views of the two buffers, whose memory does not move with the block.
  const char* bytes_ = nullptr;
  std::size_t size_ = 0;
  std::size_t count_ = 0;
  std::size_t lines_offset_ = 0;
  const std::int64_t* timestamps_ = nullptr;
  const std::uint32_t* line_offsets_ = nullptr;  // n + 1 offsets into the line section
  const Slice* metadata_ = nullptr;
  const std::uint32_t* level_of_ = nullptr;
  const Slice* levels_ = nullptr;
};

/// Entries with timestamps in a range and their bytes of lines.
struct RangeCount {
  std::uint64_t entries = 0;
  std::uint64_t line_bytes = 0;
};

/// What of an uncompressed block lies in [start, end), read in place without copying it;
/// fails with "store.corrupt" where decoding would.
Result<RangeCount> count_in_range(std::string_view block, std::int64_t start, std::int64_t end);

/// How compacted chunks are compressed. zstd keeps about a fifth of mixed log lines and
/// decompresses at about 1 GB/s per core; lz4 keeps about a third and decompresses about three
/// times as fast ("Embedded store at scale" in docs/BENCHMARKS.md).
enum class ChunkEncoding { zstd, lz4 };

/// A compacted chunk's bytes (see the format above); empty when compression fails.
std::string compress_block(std::string_view block, ChunkEncoding encoding);


/// The n-gram filter of a chunk's lines.
class NgramFilter {
public:
  /// Builds the filter of `lines` (a block's line section).
  static std::string build(std::string_view lines);

  /// Whether a chunk with filter `bits` may contain `literal`. Literals shorter than 4 bytes
  /// and empty or malformed filters always may.
  static bool may_contain(std::string_view bits, std::string_view literal);
};

}  // namespace lognurse::local_store
