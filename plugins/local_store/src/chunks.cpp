#include "chunks.hpp"

#include <sqlite3.h>

#include <charconv>
#include <cstring>

namespace lognurse::local_store {
namespace {

constexpr const char* kColumns =
    "id, stream_id, seq, compacted, min_ns, max_ns, entries, line_bytes, levels";

ChunkRef read_ref(const Statement& statement) {
  ChunkRef ref;
  ref.id = statement.column_int(0);
  ref.stream_id = statement.column_int(1);
  ref.seq = statement.column_int(2);
  ref.compacted = statement.column_int(3) != 0;
  ref.min_ns = statement.column_int(4);
  ref.max_ns = statement.column_int(5);
  ref.entries = static_cast<std::uint64_t>(statement.column_int(6));
  ref.line_bytes = static_cast<std::uint64_t>(statement.column_int(7));
  ref.levels = std::string(statement.column_bytes(8));
  return ref;
}

Result<std::vector<ChunkRef>> read_refs(Statement& statement) {
  std::vector<ChunkRef> refs;
  for (;;) {
    auto row = statement.step();
    if (!row) {
      statement.reset();
      return row.error();
    }
    if (!row.value()) break;
    refs.push_back(read_ref(statement));
  }
  statement.reset();
  return refs;
}

std::uint64_t parse_count(std::string_view text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

std::string encode_level_totals(const std::vector<BlockBuilder::LevelTotals>& totals) {
  std::string out;
  for (const auto& total : totals) {
    if (total.entries == 0) continue;
    for (char c : total.level) out += (c == '\t' || c == '\n') ? ' ' : c;
    out += '\t' + std::to_string(total.entries) + '\t' + std::to_string(total.bytes) + '\n';
  }
  return out;
}

std::vector<BlockBuilder::LevelTotals> decode_level_totals(std::string_view text) {
  std::vector<BlockBuilder::LevelTotals> totals;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const std::size_t first = line.find('\t');
    const std::size_t second = first == std::string_view::npos ? first : line.find('\t', first + 1);
    if (second == std::string_view::npos) continue;
    BlockBuilder::LevelTotals total;
    total.level = std::string(line.substr(0, first));
    total.entries = parse_count(line.substr(first + 1, second - first - 1));
    total.bytes = parse_count(line.substr(second + 1));
    totals.push_back(std::move(total));
  }
  return totals;
}

Result<ChunkStatements> ChunkStatements::prepare(Connection& connection, BlockPool& pool) {
  ChunkStatements statements;
  statements.connection_ = &connection;
  statements.pool_ = &pool;
  const std::string columns = kColumns;
  const std::pair<Statement*, std::string> sources[] = {
      {&statements.insert_,
       "INSERT INTO chunks (stream_id, seq, compacted, min_ns, max_ns, entries, line_bytes, "
       "levels, created_ns, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
      {&statements.insert_filter_, "INSERT INTO chunk_filters (chunk_id, bits) VALUES (?1, ?2)"},
      {&statements.list_, "SELECT " + columns +
                              " FROM chunks WHERE stream_id = ?1 AND min_ns < ?3 AND "
                              "max_ns >= ?2"},
      {&statements.head_, "SELECT " + columns +
                              " FROM chunks WHERE stream_id = ?1 AND compacted = 0 "
                              "ORDER BY seq, id LIMIT ?2"},
      {&statements.data_, "SELECT data FROM chunks WHERE id = ?1"},
      {&statements.filter_, "SELECT bits FROM chunk_filters WHERE chunk_id = ?1"},
      {&statements.delete_, "DELETE FROM chunks WHERE id = ?1"},
      {&statements.delete_filter_, "DELETE FROM chunk_filters WHERE chunk_id = ?1"},
  };
  for (const auto& source : sources) {
    auto prepared = connection.prepare(source.second);
    if (!prepared) return prepared.error();
    *source.first = std::move(prepared.value());
  }
  return statements;
}

Result<EncodedChunk> encode_chunk(BlockBuilder& block, bool compacted, ChunkEncoding encoding) {
  EncodedChunk chunk;
  chunk.compacted = compacted;
  chunk.levels = encode_level_totals(block.level_totals());
  chunk.min_ns = block.min_ns();
  chunk.max_ns = block.max_ns();
  chunk.entries = block.size();
  chunk.line_bytes = block.line_bytes();
  chunk.data = block.finish();
  if (compacted) {
    // The line section is the block's tail.
    chunk.filter = NgramFilter::build(std::string_view(chunk.data).substr(
        chunk.data.size() - static_cast<std::size_t>(chunk.line_bytes)));
    chunk.data = compress_block(chunk.data, encoding);
    if (chunk.data.empty()) {
      return internal_error("store.compression", "a chunk could not be compressed");
    }
  }
  return chunk;
}

Result<std::int64_t> ChunkStatements::insert(std::int64_t stream_id, std::int64_t seq,
                                             std::int64_t created_ns, const EncodedChunk& chunk) {
  insert_.reset();
  insert_.bind(1, stream_id);
  insert_.bind(2, seq);
  insert_.bind(3, chunk.compacted ? 1 : 0);
  insert_.bind(4, chunk.min_ns);
  insert_.bind(5, chunk.max_ns);
  insert_.bind(6, static_cast<std::int64_t>(chunk.entries));
  insert_.bind(7, static_cast<std::int64_t>(chunk.line_bytes));
  insert_.bind_text(8, chunk.levels);
  insert_.bind(9, created_ns);
  insert_.bind_blob(10, chunk.data);
  auto inserted = insert_.run();
  if (!inserted) return inserted.error();
  const std::int64_t id = sqlite3_last_insert_rowid(connection_->handle());
  if (chunk.compacted) {
    insert_filter_.reset();
    insert_filter_.bind(1, id);
    insert_filter_.bind_blob(2, chunk.filter);
    auto stored = insert_filter_.run();
    if (!stored) return stored.error();
  }
  return id;
}

Result<std::vector<ChunkRef>> ChunkStatements::list(std::int64_t stream_id,
                                                    const TimeRange& range) {
  list_.reset();
  list_.bind(1, stream_id);
  list_.bind(2, range.start_ns);
  list_.bind(3, range.end_ns);
  return read_refs(list_);
}

Result<std::vector<ChunkRef>> ChunkStatements::head_blocks(std::int64_t stream_id,
                                                           std::size_t limit) {
  head_.reset();
  head_.bind(1, stream_id);
  head_.bind(2, static_cast<std::int64_t>(limit));
  return read_refs(head_);
}

namespace {

/// Steps `data` (bound to a chunk id) to its row; a missing row means the chunk was replaced
/// after the read began, which a read transaction rules out.
Status step_to_data(Statement& data, std::int64_t chunk_id) {
  auto row = data.step();
  if (!row) return row.error();
  if (!row.value()) {
    return internal_error("store.corrupt", "chunk " + std::to_string(chunk_id) +
                                               " disappeared during a read; retry the query");
  }
  return success();
}

}  // namespace

Result<DecodedBlock> ChunkStatements::load(const ChunkRef& chunk) {
  data_.reset();
  data_.bind(1, chunk.id);
  auto found = step_to_data(data_, chunk.id);
  if (!found) return found.error();
  auto block = chunk.compacted ? DecodedBlock::decompress(data_.column_bytes(0), *pool_)
                               : DecodedBlock::decode(data_.column_bytes(0), *pool_);
  data_.reset();
  return block;
}

Result<RangeCount> ChunkStatements::count(const ChunkRef& chunk, const TimeRange& range) {
  if (chunk.inside(range)) return RangeCount{chunk.entries, chunk.line_bytes};
  if (chunk.compacted) {
    auto block = load(chunk);
    if (!block) return block.error();
    const DecodedBlock& b = block.value();
    RangeCount counted;
    for (std::size_t i = b.lower_bound(range.start_ns); i < b.size() && b.timestamp(i) < range.end_ns;
         ++i) {
      counted.entries += 1;
      counted.line_bytes += b.line_size(i);
    }
    return counted;
  }
  data_.reset();
  data_.bind(1, chunk.id);
  auto found = step_to_data(data_, chunk.id);
  if (!found) return found.error();
  auto counted = count_in_range(data_.column_bytes(0), range.start_ns, range.end_ns);
  data_.reset();
  return counted;
}

void ChunkStatements::BlobCloser::operator()(sqlite3_blob* blob) const { sqlite3_blob_close(blob); }

Result<ChunkStatements::StoredBytes> ChunkStatements::stored_bytes(const ChunkRef& chunk,
                                                                   BlockPool& pool) {
  sqlite3* db = connection_->handle();
  int code = SQLITE_OK;
  if (blob_) {
    code = sqlite3_blob_reopen(blob_.get(), chunk.id);
  } else {
    sqlite3_blob* opened = nullptr;
    code = sqlite3_blob_open(db, "main", "chunks", "data", chunk.id, 0, &opened);
    blob_.reset(opened);
  }
  if (code != SQLITE_OK) {
    // A failed reopen leaves the handle aborted: open a fresh one next time.
    blob_.reset();
    if (code == SQLITE_ERROR) {
      return internal_error("store.corrupt", "chunk " + std::to_string(chunk.id) +
                                                 " disappeared during a read; retry the query");
    }
    return sqlite_error(db, code, "read chunk");
  }
  const int size = sqlite3_blob_bytes(blob_.get());
  StoredBytes bytes;
  bytes.buffer = pool.take(static_cast<std::size_t>(size));
  bytes.size = static_cast<std::size_t>(size);
  if (size > 0) {
    code = sqlite3_blob_read(blob_.get(), bytes.buffer.data(), size, 0);
    if (code != SQLITE_OK) {
      blob_.reset();
      return sqlite_error(db, code, "read chunk");
    }
  }
  return bytes;
}

Result<std::string> ChunkStatements::filter(std::int64_t chunk_id) {
  filter_.reset();
  filter_.bind(1, chunk_id);
  auto row = filter_.step();
  if (!row) return row.error();
  std::string bits = row.value() ? std::string(filter_.column_bytes(0)) : std::string();
  filter_.reset();
  return bits;
}

Status ChunkStatements::remove(std::int64_t chunk_id) {
  delete_filter_.reset();
  delete_filter_.bind(1, chunk_id);
  auto status = delete_filter_.run();
  if (!status) return status;
  delete_.reset();
  delete_.bind(1, chunk_id);
  return delete_.run();
}

}  // namespace lognurse::local_store
