// The memory of decoded blocks: the pool keeps freed buffers only within its budget, frees
// the rest, reuses what fits, and a store's scans give back everything they decoded.

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "block_pool.hpp"
#include "chunk_format.hpp"
#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

constexpr std::size_t kKiB = 1024;

/// `count` lines of about 100 bytes, one a millisecond from kBase + start_ms.
std::vector<LogEntry> lines(std::size_t count, std::int64_t start_ms) {
  std::vector<LogEntry> entries;
  for (std::size_t i = 0; i < count; ++i) {
    const auto ms = start_ms + static_cast<std::int64_t>(i);
    entries.push_back(entry(ms * 1'000'000, "level=info msg=\"request done\" path=/api/v1/items/" +
                                                std::to_string(i % 97) + " took=" +
                                                std::to_string(ms % 1000) + "ms id=" +
                                                std::to_string(ms)));
  }
  return entries;
}

/// A store with one stream of `pushes` times 3000 lines (about 225 KB), compacted into chunks
/// of about 256 KB of lines.
std::unique_ptr<LocalStore> store_with_chunks(const TempDir& dir, const nlohmann::json& budget,
                                              std::size_t pushes) {
  auto store = open_store(dir, {{"chunk_target_size", "256KB"},
                                {"compaction_interval", 0},
                                {"decoded_block_budget", budget}});
  for (std::size_t push = 0; push < pushes; ++push) {
    auto pushed = store->push(
        request({stream({{"app", "api"}}, lines(3000, static_cast<std::int64_t>(push) * 3000))}));
    if (!pushed) throw std::runtime_error(pushed.error().message);
  }
  if (!store->compact(true)) throw std::runtime_error("compaction failed");
  return store;
}

std::size_t scan_everything(LocalStore& store) {
  return scan_all(store, "fake", scan_request({}, 0, 1'000'000'000'000, Direction::forward))
      .size();
}

}  // namespace

TEST_CASE("a size class rounds mapped sizes up to an eighth of their power of two") {
  CHECK(BlockPool::size_class(0) == 0);
  CHECK(BlockPool::size_class(1000) == 1000);
  CHECK(BlockPool::size_class(64 * kKiB - 1) == 64 * kKiB - 1);
  CHECK(BlockPool::size_class(64 * kKiB) == 64 * kKiB);
  CHECK(BlockPool::size_class(64 * kKiB + 1) == 72 * kKiB);
  CHECK(BlockPool::size_class(100'000) == 104 * kKiB);
  CHECK(BlockPool::size_class(2 * 1024 * kKiB + 1) == 2304 * kKiB);
}

TEST_CASE("the block pool keeps a freed buffer within its budget and reuses it") {
  BlockPool pool(1024 * kKiB);
  auto buffer = pool.take(100'000);
  REQUIRE(buffer.data() != nullptr);
  CHECK(buffer.capacity() == 104 * kKiB);
  std::memset(buffer.data(), 'x', buffer.capacity());
  CHECK(pool.usage().in_use_bytes == 104 * kKiB);
  CHECK(pool.usage().kept_bytes == 0);

  char* const memory = buffer.data();
  buffer.reset();
  CHECK(buffer.data() == nullptr);
  CHECK(pool.usage().in_use_bytes == 0);
  CHECK(pool.usage().kept_bytes == 104 * kKiB);
  CHECK(pool.usage().kept_buffers == 1);

  auto again = pool.take(99'000);
  CHECK(again.data() == memory);
  CHECK(again.capacity() == 104 * kKiB);
  CHECK(pool.usage().in_use_bytes == 104 * kKiB);
  CHECK(pool.usage().kept_bytes == 0);
}

TEST_CASE("buffers given back beyond the budget are freed, not kept") {
  BlockPool pool(256 * kKiB);
  auto a = pool.take(128 * kKiB);
  auto b = pool.take(128 * kKiB);
  auto c = pool.take(128 * kKiB);
  CHECK(pool.usage().in_use_bytes == 384 * kKiB);
  CHECK(pool.in_use_over_budget());

  a.reset();  // 256 KiB still in use: keeping it would make 384
  CHECK(pool.usage().in_use_bytes == 256 * kKiB);
  CHECK(pool.usage().kept_bytes == 0);
  b.reset();
  c.reset();
  CHECK(pool.usage().in_use_bytes == 0);
  CHECK(pool.usage().kept_bytes == 256 * kKiB);
  CHECK(pool.usage().kept_buffers == 2);
  CHECK_FALSE(pool.in_use_over_budget());
}

TEST_CASE("new memory first frees kept buffers, the largest first, to stay within the budget") {
  BlockPool pool(512 * kKiB);
  {
    auto a = pool.take(64 * kKiB);
    auto b = pool.take(128 * kKiB);
    auto c = pool.take(128 * kKiB);
    auto d = pool.take(192 * kKiB);
  }
  CHECK(pool.usage().kept_bytes == 512 * kKiB);
  CHECK(pool.usage().kept_buffers == 4);

  // 300,000 bytes is in the 320 KiB class, which no kept buffer fits: the 192 KiB and one
  // 128 KiB buffer are freed, 64 + 128 KiB stay kept.
  auto big = pool.take(300'000);
  CHECK(big.capacity() == 320 * kKiB);
  CHECK(pool.usage().in_use_bytes == 320 * kKiB);
  CHECK(pool.usage().kept_bytes == 192 * kKiB);
  CHECK(pool.usage().kept_buffers == 2);
}

TEST_CASE("a kept buffer more than twice the size class is not used for a small block") {
  BlockPool pool(4096 * kKiB);
  pool.take(1024 * kKiB).reset();
  CHECK(pool.usage().kept_bytes == 1024 * kKiB);

  auto small = pool.take(100'000);
  CHECK(small.capacity() == 104 * kKiB);
  CHECK(pool.usage().in_use_bytes == 104 * kKiB);
  CHECK(pool.usage().kept_bytes == 1024 * kKiB);

  auto fitting = pool.take(600 * kKiB);  // 1024 KiB is within twice 640 KiB
  CHECK(fitting.capacity() == 1024 * kKiB);
  CHECK(pool.usage().kept_bytes == 0);
}

TEST_CASE("small buffers are counted while in use and never kept") {
  BlockPool pool(1024 * kKiB);
  auto small = pool.take(1000);
  CHECK(small.capacity() == 1000);
  CHECK(pool.usage().in_use_bytes == 1000);
  small.reset();
  CHECK(pool.usage().in_use_bytes == 0);
  CHECK(pool.usage().kept_bytes == 0);
  CHECK(pool.take(0).data() == nullptr);
}

TEST_CASE("a pool with a budget of zero keeps nothing") {
  BlockPool pool(0);
  pool.take(256 * kKiB).reset();
  CHECK(pool.usage().in_use_bytes == 0);
  CHECK(pool.usage().kept_bytes == 0);
}

TEST_CASE("a decoded block takes its bytes and index from the pool and gives both back") {
  BlockBuilder builder;
  const auto entries = lines(5000, 0);
  for (const auto& e : entries) builder.add(e.timestamp_ns, e.line, Labels{}, "info");
  const std::string bytes = builder.finish();
  // The index of 5000 entries and one level: 24 bytes an entry, 8 a level, 4 more.
  const std::size_t index_bytes = 24 * 5000 + 8 + 4;
  const std::size_t expected =
      BlockPool::size_class(bytes.size()) + BlockPool::size_class(index_bytes);

  BlockPool pool(4096 * kKiB);
  {
    auto block = DecodedBlock::decode(bytes, pool);
    REQUIRE(block.ok());
    CHECK(pool.usage().in_use_bytes == expected);
    DecodedBlock moved = std::move(block.value());
    CHECK(moved.size() == 5000);
    CHECK(moved.line(4999) == entries[4999].line);
    CHECK(pool.usage().in_use_bytes == expected);
  }
  CHECK(pool.usage().in_use_bytes == 0);
  CHECK(pool.usage().kept_bytes == expected);
  CHECK(pool.usage().kept_buffers == 2);

  // A damaged block gives its memory back too.
  CHECK(DecodedBlock::decode(bytes.substr(0, bytes.size() - 1), pool).error().code ==
        "store.corrupt");
  CHECK(pool.usage().in_use_bytes == 0);
}

TEST_CASE("a second scan of a chunk reuses the buffers the first one left, keeping no more") {
  TempDir dir;
  auto store = store_with_chunks(dir, "32MB", 1);
  CHECK(store->storage_stats().value().chunks == 1);

  CHECK(scan_everything(*store) == 3000);
  const auto first = store->decoded_block_usage();
  CHECK(first.in_use_bytes == 0);
  CHECK(first.kept_buffers == 2);  // the chunk's bytes and its index
  CHECK(first.kept_bytes > 0);

  CHECK(scan_everything(*store) == 3000);
  const auto second = store->decoded_block_usage();
  CHECK(second.in_use_bytes == 0);
  CHECK(second.kept_buffers == 2);
  CHECK(second.kept_bytes == first.kept_bytes);
}

TEST_CASE("a store keeps decoded blocks only within decoded_block_budget") {
  TempDir small_dir;
  auto small = store_with_chunks(small_dir, "512KB", 8);
  CHECK(small->storage_stats().value().chunks > 3);  // the scan decodes ahead
  CHECK(scan_everything(*small) == 24000);
  CHECK(small->decoded_block_usage().in_use_bytes == 0);
  CHECK(small->decoded_block_usage().kept_bytes <= 512 * kKiB);

  TempDir none_dir;
  auto none = store_with_chunks(none_dir, 0, 8);
  CHECK(scan_everything(*none) == 24000);
  CHECK(none->decoded_block_usage().in_use_bytes == 0);
  CHECK(none->decoded_block_usage().kept_bytes == 0);
}

}  // namespace lognurse::local_store::test
