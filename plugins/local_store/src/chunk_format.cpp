#include "chunk_format.hpp"

#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "lognurse/logql/literal_finder.hpp"

namespace lognurse::local_store {
namespace {

constexpr std::uint8_t kBlockVersion = 1;
/// The first byte of an lz4 chunk; a zstd frame starts with 0x28, the first of its magic.
constexpr std::uint8_t kLz4Tag = 0x04;
/// zstd's fastest regular level: about a fifth of mixed log lines.
constexpr int kZstdLevel = 1;
constexpr std::size_t kGram = 4;

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

/// Reads varints and byte runs from a buffer, remembering the first failure.
class Reader {
public:
  Reader(std::string_view bytes, std::size_t position = 0) : bytes_(bytes), position_(position) {}

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ >= bytes_.size()) {
        ok_ = false;
        return 0;
      }
      const auto byte = static_cast<std::uint8_t>(bytes_[position_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    ok_ = false;
    return 0;
  }

  /// Skips `size` bytes and returns where they started.
  std::size_t skip(std::uint64_t size) {
    const std::size_t start = position_;
    if (size > bytes_.size() - position_) {
      ok_ = false;
      return start;
    }
    position_ += static_cast<std::size_t>(size);
    return start;
  }

  std::string_view take(std::uint64_t size) {
    const std::size_t start = skip(size);
    return ok_ ? bytes_.substr(start, static_cast<std::size_t>(size)) : std::string_view();
  }

  bool ok() const { return ok_; }
  bool at_end() const { return position_ == bytes_.size(); }
  std::size_t position() const { return position_; }

private:
  std::string_view bytes_;
  std::size_t position_;
  bool ok_ = true;
};

Error corrupt(const std::string& what) {
  return internal_error("store.corrupt",
                        "a stored block is damaged (" + what +
                            "); restore the database from a backup or delete the file");
}

/// murmur3's 64-bit finalizer over a 4-byte window.
std::uint64_t gram_hash(const char* p) {
  std::uint32_t window = 0;
  std::memcpy(&window, p, sizeof window);
  std::uint64_t h = window;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/// The two bit positions of a hash in a filter of `bits` bits.
std::pair<std::uint64_t, std::uint64_t> probes(std::uint64_t h, std::uint64_t bits) {
  const std::uint64_t low = h & 0xFFFFFFFFULL;
  const std::uint64_t high = h >> 32;
  return {(low * bits) >> 32, (high * bits) >> 32};
}

}  // namespace

std::string encode_metadata_pairs(const Labels& metadata) {
  if (metadata.empty()) return {};
  std::vector<const Label*> sorted;
  sorted.reserve(metadata.size());
  for (const auto& pair : metadata) sorted.push_back(&pair);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Label* a, const Label* b) { return a->first < b->first; });
  std::string out;
  put_varint(out, metadata.size());
  for (const Label* label : sorted) {
    const auto& pair = *label;
    put_varint(out, pair.first.size());
    out += pair.first;
    put_varint(out, pair.second.size());
    out += pair.second;
  }
  return out;
}

bool decode_metadata_pairs(std::string_view bytes, Labels& out) {
  out.clear();
  if (bytes.empty()) return true;
  Reader reader(bytes);
  const std::uint64_t count = reader.varint();
  if (!reader.ok() || count > bytes.size()) return false;
  out.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string_view name = reader.take(reader.varint());
    std::string_view value = reader.take(reader.varint());
    if (!reader.ok()) return false;
    out.emplace_back(std::string(name), std::string(value));
  }
  return reader.at_end();
}

std::uint32_t BlockBuilder::level_index(std::string_view level) {
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    if (levels_[i] == level) return static_cast<std::uint32_t>(i);
  }
  levels_.emplace_back(level);
  return static_cast<std::uint32_t>(levels_.size() - 1);
}

void BlockBuilder::add(std::int64_t timestamp_ns, std::string_view line, std::string_view metadata,
                       std::string_view level) {
  if (entries_.empty()) {
    min_ns_ = max_ns_ = timestamp_ns;
  } else {
    min_ns_ = std::min(min_ns_, timestamp_ns);
    max_ns_ = std::max(max_ns_, timestamp_ns);
  }
  entries_.push_back(Pending{timestamp_ns, line, metadata, level_index(level)});
  line_bytes_ += line.size();
}

void BlockBuilder::add(std::int64_t timestamp_ns, std::string_view line, const Labels& metadata,
                       std::string_view level) {
  std::string_view encoded;
  if (!metadata.empty()) encoded = owned_.emplace_back(encode_metadata_pairs(metadata));
  add(timestamp_ns, line, encoded, level);
}

std::vector<BlockBuilder::LevelTotals> BlockBuilder::level_totals() const {
  std::vector<LevelTotals> totals(levels_.size());
  for (std::size_t i = 0; i < levels_.size(); ++i) totals[i].level = levels_[i];
  for (const auto& entry : entries_) {
    totals[entry.level].entries += 1;
    totals[entry.level].bytes += entry.line.size();
  }
  return totals;
}

std::string BlockBuilder::finish() {
  std::stable_sort(entries_.begin(), entries_.end(), [](const Pending& a, const Pending& b) {
    return a.timestamp_ns < b.timestamp_ns;
  });
  std::string section;
  section.reserve(entries_.size() * 8);
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Pending& entry = entries_[i];
    if (i == 0) {
      put_varint(section, zigzag(entry.timestamp_ns));
    } else {
      put_varint(section, static_cast<std::uint64_t>(entry.timestamp_ns) -
                              static_cast<std::uint64_t>(previous));
    }
    previous = entry.timestamp_ns;
    put_varint(section, entry.level);
    put_varint(section, entry.line.size());
    put_varint(section, entry.metadata.size());
    section += entry.metadata;
  }

  std::string out;
  out.reserve(section.size() + line_bytes_ + 64);
  out.push_back(static_cast<char>(kBlockVersion));
  put_varint(out, entries_.size());
  put_varint(out, levels_.size());
  for (const auto& level : levels_) {
    put_varint(out, level.size());
    out += level;
  }
  put_varint(out, section.size());
  out += section;
  for (const auto& entry : entries_) out += entry.line;
  return out;
}

void BlockBuilder::clear() {
  entries_.clear();
  levels_.clear();
  owned_.clear();
  line_bytes_ = 0;
  min_ns_ = max_ns_ = 0;
}

DecodedBlock::DecodedBlock() = default;

DecodedBlock::~DecodedBlock() = default;

DecodedBlock::DecodedBlock(DecodedBlock&& other) noexcept { *this = std::move(other); }

DecodedBlock& DecodedBlock::operator=(DecodedBlock&& other) noexcept {
  if (this == &other) return *this;
  bytes_buffer_ = std::move(other.bytes_buffer_);
  index_buffer_ = std::move(other.index_buffer_);
  bytes_ = other.bytes_;
  size_ = other.size_;
  count_ = other.count_;
  lines_offset_ = other.lines_offset_;
  timestamps_ = other.timestamps_;
  line_offsets_ = other.line_offsets_;
  metadata_ = other.metadata_;
  level_of_ = other.level_of_;
  levels_ = other.levels_;
  other.clear_views();
  return *this;
}

void DecodedBlock::clear_views() {
  bytes_ = nullptr;
  size_ = count_ = lines_offset_ = 0;
  timestamps_ = nullptr;
  line_offsets_ = level_of_ = nullptr;
  metadata_ = levels_ = nullptr;
}

Result<DecodedBlock> DecodedBlock::decode(std::string_view bytes, BlockPool& pool) {
  DecodedBlock block;
  block.bytes_buffer_ = pool.take(bytes.size());
  if (!bytes.empty()) std::memcpy(block.bytes_buffer_.data(), bytes.data(), bytes.size());
  return index(std::move(block), bytes.size(), pool);
}

Result<DecodedBlock> DecodedBlock::decompress(std::string_view frame, BlockPool& pool) {
  if (!frame.empty() && static_cast<std::uint8_t>(frame[0]) == kLz4Tag) {
    Reader reader(frame, 1);
    const std::uint64_t size = reader.varint();
    constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<int>::max());
    if (!reader.ok() || size > kMax || frame.size() - reader.position() > kMax) {
      return corrupt("bad lz4 chunk header");
    }
    DecodedBlock block;
    block.bytes_buffer_ = pool.take(static_cast<std::size_t>(size));
    char* out = block.bytes_buffer_.data();
    const int written = LZ4_decompress_safe(
        frame.data() + reader.position(), out, static_cast<int>(frame.size() - reader.position()),
        static_cast<int>(size));
    if (written < 0 || static_cast<std::uint64_t>(written) != size) {
      return corrupt("lz4: the block does not decompress to its recorded size");
    }
    return index(std::move(block), static_cast<std::size_t>(size), pool);
  }

  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > (1ULL << 32)) {
    return corrupt("bad zstd frame header");
  }
  DecodedBlock block;
  block.bytes_buffer_ = pool.take(static_cast<std::size_t>(size));
  char* out = block.bytes_buffer_.data();
  // One decompression context per thread: creating one per block costs more than small
  // blocks take to decompress.
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> context(ZSTD_createDCtx(),
                                                                            &ZSTD_freeDCtx);
  const std::size_t written = ZSTD_decompressDCtx(context.get(), out, static_cast<std::size_t>(size),
                                                  frame.data(), frame.size());
  if (ZSTD_isError(written) != 0 || written != size) {
    return corrupt(std::string("zstd: ") +
                   (ZSTD_isError(written) != 0 ? ZSTD_getErrorName(written) : "short frame"));
  }
  return index(std::move(block), static_cast<std::size_t>(size), pool);
}

Result<DecodedBlock> DecodedBlock::index(DecodedBlock block, std::size_t size, BlockPool& pool) {
  if (size > std::numeric_limits<std::uint32_t>::max()) return corrupt("block too large");
  const std::string_view all(block.bytes_buffer_.data(), size);
  if (all.empty() || static_cast<std::uint8_t>(all[0]) != kBlockVersion) {
    return corrupt("unknown block format");
  }
  Reader reader(all, 1);
  const std::uint64_t count = reader.varint();
  const std::uint64_t level_count = reader.varint();
  if (!reader.ok() || count > all.size() || level_count > all.size()) {
    return corrupt("bad entry or level count");
  }
  const std::size_t levels_start = reader.position();
  for (std::uint64_t i = 0; i < level_count; ++i) reader.skip(reader.varint());
  if (!reader.ok()) return corrupt("bad level name");
  const std::uint64_t section_size = reader.varint();
  const std::size_t section_start = reader.skip(section_size);
  // Every entry takes at least four bytes of the section (four varints): a count beyond that
  // is damage, refused before the index is sized by it.
  if (!reader.ok() || count > section_size / 4) return corrupt("bad entry section");
  const std::size_t lines_offset = section_start + static_cast<std::size_t>(section_size);

  // One buffer for the index: timestamps, metadata slices, level slices, line offsets (n + 1),
  // levels of entries. The 8-byte arrays come first, so every array is aligned.
  const auto n = static_cast<std::size_t>(count);
  const auto levels = static_cast<std::size_t>(level_count);
  block.index_buffer_ = pool.take(16 * n + 8 * levels + 4 * (n + 1) + 4 * n);
  char* at = block.index_buffer_.data();
  auto* timestamps = reinterpret_cast<std::int64_t*>(at);
  auto* metadata = reinterpret_cast<Slice*>(at + 8 * n);
  auto* level_names = reinterpret_cast<Slice*>(at + 16 * n);
  auto* line_offsets = reinterpret_cast<std::uint32_t*>(at + 16 * n + 8 * levels);
  auto* level_of = line_offsets + n + 1;

  Reader names(all, levels_start);
  for (std::size_t i = 0; i < levels; ++i) {
    const std::uint64_t length = names.varint();
    const std::size_t offset = names.skip(length);
    level_names[i] = Slice{static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(length)};
  }
  Reader entries(all.substr(0, lines_offset), section_start);
  std::uint64_t line_offset = 0;
  std::int64_t previous = 0;
  const std::size_t lines_size = all.size() - lines_offset;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t ts = entries.varint();
    previous = i == 0 ? unzigzag(ts)
                      : static_cast<std::int64_t>(static_cast<std::uint64_t>(previous) + ts);
    timestamps[i] = previous;
    const std::uint64_t level = entries.varint();
    const std::uint64_t line_size = entries.varint();
    const std::uint64_t metadata_size = entries.varint();
    const std::size_t metadata_offset = entries.skip(metadata_size);
    if (!entries.ok() || level >= level_count || line_size > lines_size - line_offset) {
      return corrupt("bad entry " + std::to_string(i));
    }
    if (i > 0 && previous < timestamps[i - 1]) return corrupt("entries out of order");
    level_of[i] = static_cast<std::uint32_t>(level);
    metadata[i] = Slice{static_cast<std::uint32_t>(metadata_offset),
                        static_cast<std::uint32_t>(metadata_size)};
    line_offsets[i] = static_cast<std::uint32_t>(line_offset);
    line_offset += line_size;
  }
  line_offsets[n] = static_cast<std::uint32_t>(line_offset);
  if (!entries.at_end() || line_offset != lines_size) return corrupt("sizes do not add up");

  block.bytes_ = all.data();
  block.size_ = size;
  block.count_ = n;
  block.lines_offset_ = lines_offset;
  block.timestamps_ = timestamps;
  block.line_offsets_ = line_offsets;
  block.metadata_ = metadata;
  block.level_of_ = level_of;
  block.levels_ = level_names;
  return block;
}

Result<RangeCount> count_in_range(std::string_view all, std::int64_t start, std::int64_t end) {
  if (all.empty() || static_cast<std::uint8_t>(all[0]) != kBlockVersion) {
    return corrupt("unknown block format");
  }
  Reader reader(all, 1);
  const std::uint64_t count = reader.varint();
  const std::uint64_t level_count = reader.varint();
  for (std::uint64_t i = 0; reader.ok() && i < level_count; ++i) reader.skip(reader.varint());
  const std::uint64_t section_size = reader.varint();
  const std::size_t section_start = reader.skip(section_size);
  if (!reader.ok() || count > all.size()) return corrupt("bad block header");
  Reader entries(all.substr(0, section_start + static_cast<std::size_t>(section_size)),
                 section_start);
  RangeCount counted;
  std::int64_t ts = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t delta = entries.varint();
    ts = i == 0 ? unzigzag(delta)
                : static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) + delta);
    entries.varint();  // level
    const std::uint64_t line_size = entries.varint();
    entries.skip(entries.varint());  // structured metadata
    if (!entries.ok()) return corrupt("bad entry " + std::to_string(i));
    if (ts >= end) break;  // sorted: nothing later is in the range
    if (ts >= start) {
      counted.entries += 1;
      counted.line_bytes += line_size;
    }
  }
  return counted;
}

std::size_t DecodedBlock::lower_bound(std::int64_t ts) const {
  return static_cast<std::size_t>(std::lower_bound(timestamps_, timestamps_ + count_, ts) -
                                  timestamps_);
}

std::string_view DecodedBlock::lines() const {
  return std::string_view(bytes_ + lines_offset_, size_ - lines_offset_);
}

std::vector<std::uint32_t> DecodedBlock::matching(std::size_t first, std::size_t last,
                                                  const std::vector<std::string>& literals) const {
  std::vector<std::uint32_t> out;
  if (first >= last) return out;
  const std::string* lead = nullptr;
  for (const auto& literal : literals) {
    if (!literal.empty() && (lead == nullptr || literal.size() > lead->size())) lead = &literal;
  }
  auto others_match = [&](std::size_t i) {
    const std::string_view text = line(i);
    for (const auto& literal : literals) {
      if (&literal != lead && !literal.empty() && text.find(literal) == std::string_view::npos) {
        return false;
      }
    }
    return true;
  };
  if (lead == nullptr) {
    out.reserve(last - first);
    for (std::size_t i = first; i < last; ++i) out.push_back(static_cast<std::uint32_t>(i));
    return out;
  }

  // One search over the line section; a hit is kept when it lies inside one line.
  const logql::LiteralFinder finder(*lead);
  const std::string_view all = lines();
  const char* base = all.data();
  std::size_t position = line_offsets_[first];
  const std::size_t end = line_offsets_[last];
  std::size_t index = first;
  while (position < end) {
    const std::size_t offset = finder.find(std::string_view(base, end), position);
    if (offset == logql::LiteralFinder::npos) break;
    // The line holding the hit: the last one starting at or before it.
    index = static_cast<std::size_t>(
        std::upper_bound(line_offsets_ + index, line_offsets_ + last + 1,
                         static_cast<std::uint32_t>(offset)) -
        line_offsets_) - 1;
    if (offset + lead->size() <= line_offsets_[index + 1]) {
      if (others_match(index)) out.push_back(static_cast<std::uint32_t>(index));
      ++index;
      if (index >= last) break;
      position = line_offsets_[index];
    } else {
      position = offset + 1;  // the hit straddles two lines
    }
  }
  return out;
}

std::string compress_block(std::string_view block, ChunkEncoding encoding) {
  if (encoding == ChunkEncoding::lz4) {
    if (block.size() > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) return {};
    std::string out(1, static_cast<char>(kLz4Tag));
    put_varint(out, block.size());
    const std::size_t header = out.size();
    const int bound = LZ4_compressBound(static_cast<int>(block.size()));
    out.resize(header + static_cast<std::size_t>(bound));
    const int size = LZ4_compress_default(block.data(), out.data() + header,
                                          static_cast<int>(block.size()), bound);
    if (size <= 0) return {};
    out.resize(header + static_cast<std::size_t>(size));
    return out;
  }
  std::string out(ZSTD_compressBound(block.size()), '\0');
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context(ZSTD_createCCtx(),
                                                                            &ZSTD_freeCCtx);
  const std::size_t size = ZSTD_compressCCtx(context.get(), out.data(), out.size(), block.data(),
                                             block.size(), kZstdLevel);
  if (ZSTD_isError(size) != 0) return {};
  out.resize(size);
  return out;
}

std::string NgramFilter::build(std::string_view lines) {
  const auto wanted = static_cast<std::uint64_t>(static_cast<double>(lines.size()) *
                                                 kFilterBitsPerLineByte);
  const std::uint64_t bits = std::max<std::uint64_t>(64, (wanted + 63) / 64 * 64);
  std::string filter(static_cast<std::size_t>(bits / 8), '\0');
  auto* words = reinterpret_cast<unsigned char*>(filter.data());
  if (lines.size() < kGram) return filter;
  const char* p = lines.data();
  const std::size_t windows = lines.size() - kGram + 1;
  for (std::size_t i = 0; i < windows; ++i) {
    const auto [a, b] = probes(gram_hash(p + i), bits);
    words[a >> 3] |= static_cast<unsigned char>(1U << (a & 7));
    words[b >> 3] |= static_cast<unsigned char>(1U << (b & 7));
  }
  return filter;
}

bool NgramFilter::may_contain(std::string_view filter, std::string_view literal) {
  if (literal.size() < kGram || filter.size() < 8 || filter.size() % 8 != 0) return true;
  const std::uint64_t bits = static_cast<std::uint64_t>(filter.size()) * 8;
  const auto* words = reinterpret_cast<const unsigned char*>(filter.data());
  for (std::size_t i = 0; i + kGram <= literal.size(); ++i) {
    const auto [a, b] = probes(gram_hash(literal.data() + i), bits);
    if ((words[a >> 3] & (1U << (a & 7))) == 0) return false;
    if ((words[b >> 3] & (1U << (b & 7))) == 0) return false;
  }
  return true;
}

}  // namespace lognurse::local_store
