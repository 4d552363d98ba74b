// Blocks, chunks and the compactor: the block format round-trips and refuses damage, the
// n-gram filter never hides a line, compaction and retention keep every answer right, and a
// version 1 database is upgraded without losing an entry.

#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <random>
#include <thread>

#include "chunk_format.hpp"
#include "schema.hpp"
#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

std::string block_of(const std::vector<std::tuple<std::int64_t, std::string, Labels, std::string>>&
                         entries) {
  BlockBuilder builder;
  for (const auto& [ts, line, metadata, level] : entries) builder.add(ts, line, metadata, level);
  return builder.finish();
}

/// Lines of a few services, with a unique id in each.
std::vector<LogEntry> service_lines(std::size_t count, std::int64_t start, std::uint32_t seed) {
  std::mt19937 random(seed);
  const char* verbs[] = {"GET", "POST", "PUT", "DELETE"};
  std::vector<LogEntry> entries;
  for (std::size_t i = 0; i < count; ++i) {
    std::string line = "level=info method=" + std::string(verbs[random() % 4]) + " path=/api/v1/" +
                       std::to_string(random() % 50) + " id=" + std::to_string(random()) +
                       " took=" + std::to_string(random() % 1000) + "ms";
    entries.push_back(LogEntry{start + static_cast<std::int64_t>(i) * 1000, line, {}});
  }
  return entries;
}

std::vector<std::string> everything(LocalStore& store, Direction direction,
                                    std::vector<std::string> literals = {}) {
  auto scan = scan_request({}, -1'000'000'000'000, 1'000'000'000'000, direction);
  scan.required_literals = std::move(literals);
  return scan_all(store, "fake", scan);
}

}  // namespace

TEST_CASE("a block keeps entries sorted by time, ties in arrival order, bytes exact") {
  const std::string binary("a\0b\xff", 4);
  auto bytes = block_of({{30, "third", {{"trace_id", "t3"}}, "info"},
                         {10, "first", {}, "error"},
                         {30, "", {{"k", "v"}, {"a", binary}}, "info"},
                         {-5, binary, {}, "debug"}});
  auto block = DecodedBlock::decode(bytes);
  REQUIRE(block.ok());
  const DecodedBlock& b = block.value();
  REQUIRE(b.size() == 4);
  CHECK(b.timestamp(0) == -5);
  CHECK(b.line(0) == binary);
  CHECK(b.level(0) == "debug");
  CHECK(b.line(1) == "first");
  CHECK(b.level(1) == "error");
  CHECK(b.line(2) == "third");
  CHECK(b.line(3).empty());
  Labels metadata;
  REQUIRE(decode_metadata_pairs(b.metadata(3), metadata));
  CHECK(metadata == Labels{{"a", binary}, {"k", "v"}});
  REQUIRE(decode_metadata_pairs(b.metadata(1), metadata));
  CHECK(metadata.empty());
  CHECK(b.lower_bound(30) == 2);
  CHECK(b.lower_bound(31) == 4);
}

TEST_CASE("a block keeps the extreme timestamps, whose deltas take ten-byte varints") {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::string line(40, 'x');
  auto bytes = block_of({{kMin, line, {}, "info"},
                         {-1, line, {}, "info"},
                         {0, line, {}, "info"},
                         {kMax, line, {}, "info"}});
  auto block = DecodedBlock::decode(bytes);
  REQUIRE(block.ok());
  REQUIRE(block.value().size() == 4);
  CHECK(block.value().timestamp(0) == kMin);
  CHECK(block.value().timestamp(1) == -1);
  CHECK(block.value().timestamp(2) == 0);
  CHECK(block.value().timestamp(3) == kMax);
  CHECK(block.value().line(3) == line);
}

TEST_CASE("a block search finds a literal only inside one line") {
  auto bytes = block_of({{1, "abc", {}, "info"},
                         {2, "def", {}, "info"},
                         {3, "", {}, "info"},
                         {4, "xcdex", {}, "info"},
                         {5, "cde cde", {}, "info"}});
  auto block = DecodedBlock::decode(bytes).value();
  // "cde" also occurs across the first two lines ("abc" + "def"): that is not a match.
  CHECK(block.matching(0, 5, {"cde"}) == std::vector<std::uint32_t>{3, 4});
  CHECK(block.matching(0, 5, {"cde", "x"}) == std::vector<std::uint32_t>{3});
  CHECK(block.matching(4, 5, {"cde"}) == std::vector<std::uint32_t>{4});
  CHECK(block.matching(0, 5, {""}) == std::vector<std::uint32_t>{0, 1, 2, 3, 4});
  CHECK(block.matching(0, 3, {"zzz"}).empty());
}

TEST_CASE("a block search finds exactly the lines a plain search finds, at every offset") {
  // Lines over a small alphabet, so that literals occur often, next to each other, across
  // line ends and at every distance from the 16-byte steps of the search.
  std::mt19937 random(17);
  const std::string alphabet = "ab_c=";
  for (int round = 0; round < 40; ++round) {
    BlockBuilder builder;
    std::vector<std::string> lines;
    for (int i = 0; i < 60; ++i) {
      std::string line;
      const std::size_t size = random() % 41;
      for (std::size_t k = 0; k < size; ++k) line += alphabet[random() % alphabet.size()];
      lines.push_back(line);
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
      builder.add(static_cast<std::int64_t>(i), lines[i], std::string_view(), "info");
    }
    auto block = DecodedBlock::decode(builder.finish());
    REQUIRE(block.ok());
    for (const char* literal : {"a", "ab", "_c", "aab", "b=a_", "ab_c=ab_c=ab_c=ab", "a_a_a",
                                "=====", "ccccccccccccccccccccc"}) {
      std::vector<std::uint32_t> expected;
      for (std::uint32_t i = 5; i < 57; ++i) {
        if (lines[i].find(literal) != std::string::npos) expected.push_back(i);
      }
      INFO("round " << round << ", literal " << literal);
      CHECK(block.value().matching(5, 57, {literal}) == expected);
    }
  }
}

TEST_CASE("a damaged block is refused with store.corrupt at every truncation and bit flip") {
  auto bytes = block_of({{1, "one line", {{"k", "v"}}, "info"}, {2, "two", {}, "warn"}});
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    auto block = DecodedBlock::decode(bytes.substr(0, size));
    REQUIRE_FALSE(block.ok());
    CHECK(block.error().code == "store.corrupt");
  }
  std::size_t refused = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x40);
    auto block = DecodedBlock::decode(flipped);  // must not crash or read out of bounds
    if (!block.ok()) ++refused;
  }
  CHECK(refused > 0);
  CHECK(DecodedBlock::decompress("not zstd").error().code == "store.corrupt");
  const std::string frame = compress_block(bytes, ChunkEncoding::zstd);
  CHECK(DecodedBlock::decompress(frame).value().line(0) == "one line");
  CHECK(DecodedBlock::decompress(frame.substr(0, frame.size() - 1)).error().code ==
        "store.corrupt");
}

TEST_CASE("an lz4 chunk reads back byte for byte and refuses every truncation") {
  const auto entries = service_lines(500, 0, 3);
  BlockBuilder builder;
  for (const auto& e : entries) {
    builder.add(e.timestamp_ns, e.line, std::string_view(), "info");
  }
  const std::string bytes = builder.finish();
  const std::string chunk = compress_block(bytes, ChunkEncoding::lz4);
  REQUIRE(static_cast<std::uint8_t>(chunk[0]) == 0x04);
  CHECK(static_cast<std::uint8_t>(compress_block(bytes, ChunkEncoding::zstd)[0]) == 0x28);
  CHECK(chunk.size() < bytes.size() / 2);
  auto block = DecodedBlock::decompress(chunk);
  REQUIRE(block.ok());
  REQUIRE(block.value().size() == entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    CHECK(block.value().line(i) == entries[i].line);
    CHECK(block.value().timestamp(i) == entries[i].timestamp_ns);
  }
  for (std::size_t size = 0; size < chunk.size(); size += 1 + size / 8) {
    INFO("cut at " << size);
    CHECK(DecodedBlock::decompress(chunk.substr(0, size)).error().code == "store.corrupt");
  }
}

TEST_CASE("a store compacting with lz4 reads its older zstd chunks, and the reverse") {
  const auto lines = service_lines(3000, kBase, 9);
  const std::vector<LogEntry> older(lines.begin(), lines.begin() + 1500);
  const std::vector<LogEntry> newer(lines.begin() + 1500, lines.end());
  std::vector<std::string> expected;
  for (const auto& e : lines) expected.push_back(describe({{"app", "api"}}, e));
  for (const std::string first : {"zstd", "lz4"}) {
    const std::string second = first == "zstd" ? "lz4" : "zstd";
    INFO("compacted with " << first << ", then " << second);
    TempDir dir;
    {
      auto store = open_store(dir, {{"chunk_encoding", first}, {"compaction_interval", 0}});
      REQUIRE(store->push(request({stream({{"app", "api"}}, older)})).ok());
      REQUIRE(store->compact(true).ok());
    }
    auto store = open_store(dir, {{"chunk_encoding", second}, {"compaction_interval", 0}});
    REQUIRE(store->push(request({stream({{"app", "api"}}, newer)})).ok());
    REQUIRE(store->compact(true).ok());
    CHECK(store->storage_stats().value().chunks == 2);
    CHECK(store->storage_stats().value().head_blocks == 0);
    CHECK(scan_all(*store, "fake", scan_request({}, 0, 10'000'000, Direction::forward)) ==
          expected);

    // The first byte of each chunk: 0x28 begins a zstd frame, 0x04 an lz4 chunk.
    auto db = Connection::open(dir.file("test.db"), false);
    auto tags = db.value()->prepare("SELECT hex(substr(data, 1, 1)) FROM chunks ORDER BY id");
    std::vector<std::string> seen;
    while (tags.value().step().value()) seen.emplace_back(tags.value().column_bytes(0));
    CHECK(seen == (first == "zstd" ? std::vector<std::string>{"28", "04"}
                                   : std::vector<std::string>{"04", "28"}));
  }
}

TEST_CASE("the n-gram filter never rules out a substring of the lines") {
  auto entries = service_lines(2000, 0, 7);
  std::string lines;
  for (const auto& entry : entries) lines += entry.line;
  const std::string filter = NgramFilter::build(lines);
  CHECK(filter.size() == (lines.size() / 2 / 64 + 1) * 8);
  std::mt19937 random(11);
  for (int i = 0; i < 2000; ++i) {
    const std::size_t at = random() % (lines.size() - 20);
    const std::string literal = lines.substr(at, 4 + random() % 16);
    REQUIRE(NgramFilter::may_contain(filter, literal));
  }
  // Terms that are not there are ruled out almost always.
  int passed = 0;
  for (int i = 0; i < 1000; ++i) {
    passed += NgramFilter::may_contain(filter, "NEEDLE-" + std::to_string(i) + "-ABSENT") ? 1 : 0;
  }
  CHECK(passed < 10);
  CHECK(NgramFilter::may_contain(filter, "zq"));  // shorter than a gram: cannot tell
}

TEST_CASE("compaction turns head blocks into chunks and every answer stays the same") {
  TempDir dir;
  auto store = open_store(dir, {{"chunk_target_size", "8KB"}, {"compaction_interval", 0}});
  for (std::uint32_t push = 0; push < 20; ++push) {
    auto entries = service_lines(100, kBase + static_cast<std::int64_t>(push) * 100'000, push);
    if (push % 5 == 4) std::reverse(entries.begin(), entries.end());  // out of order
    REQUIRE(store->push(request({stream({{"app", "api"}}, entries),
                                 stream({{"app", "web"}}, service_lines(10, kBase + push * 7, push + 99))}))
                .ok());
  }
  const auto forward = everything(*store, Direction::forward);
  const auto backward = everything(*store, Direction::backward);
  const auto filtered = everything(*store, Direction::forward, {"method=GET", "path=/api/v1/7 "});
  const auto metrics = store->metrics("fake", range(-1'000'000'000, 1'000'000'000'000));
  const auto stats = store->stats("fake", "{app=~\".+\"}", range(-1'000'000'000, 1'000'000'000'000));
  REQUIRE(forward.size() == 2200);
  REQUIRE(!filtered.empty());
  // Head blocks cut by the range are counted entry by entry.
  const auto partial_stats = store->stats("fake", "{app=\"api\"}", range(150'000, 250'000));
  CHECK(partial_stats.value().entries == 100);

  auto before = store->storage_stats().value();
  CHECK(before.head_blocks == 40);
  CHECK(before.chunks == 0);
  REQUIRE(store->compact(true).ok());
  auto after = store->storage_stats().value();
  CHECK(after.head_blocks == 0);
  CHECK(after.chunks > 10);
  CHECK(after.entries == 2200);
  CHECK(after.line_bytes == before.line_bytes);
  CHECK(after.chunk_bytes < before.head_bytes / 2);
  CHECK(after.filter_bytes > 0);

  CHECK(everything(*store, Direction::forward) == forward);
  CHECK(everything(*store, Direction::backward) == backward);
  CHECK(everything(*store, Direction::forward, {"method=GET", "path=/api/v1/7 "}) == filtered);
  CHECK(store->metrics("fake", range(-1'000'000'000, 1'000'000'000'000)).value().lines ==
        metrics.value().lines);
  auto stats_after =
      store->stats("fake", "{app=~\".+\"}", range(-1'000'000'000, 1'000'000'000'000)).value();
  CHECK(stats_after.entries == stats.value().entries);
  CHECK(stats_after.bytes == stats.value().bytes);
  CHECK(stats_after.chunks == after.chunks);

  // A partial range reads into chunks and still counts exactly.
  auto partial = scan_all(*store, "fake", scan_request({{"app", logql::MatchType::equal, "api"}},
                                                       150'000, 250'000, Direction::forward));
  CHECK(partial.size() == 100);
  auto partial_after = store->stats("fake", "{app=\"api\"}", range(150'000, 250'000)).value();
  CHECK(partial_after.entries == 100);
  CHECK(partial_after.bytes == partial_stats.value().bytes);
  CHECK(store->labels("fake", range(150'001, 150'002)).value().empty());  // between entries

  // Pushing the same entries again stores nothing: duplicates are found in chunks too.
  auto again = store->push(request({stream({{"app", "api"}}, service_lines(100, kBase, 0))}));
  REQUIRE(again.ok());
  CHECK(again.value().entries_accepted == 0);
}

TEST_CASE("duplicates are recognised after a restart, in head blocks and in chunks") {
  TempDir dir;
  const auto batch = service_lines(50, kBase, 3);
  {
    auto store = open_store(dir, {{"compaction_interval", 0}});
    REQUIRE(store->push(request({stream({{"app", "api"}}, batch)})).value().entries_accepted == 50);
  }
  auto store = open_store(dir, {{"compaction_interval", 0}});
  CHECK(store->push(request({stream({{"app", "api"}}, batch)})).value().entries_accepted == 0);
  REQUIRE(store->compact(true).ok());
  std::vector<LogEntry> mixed = {batch[10], LogEntry{batch[10].timestamp_ns, "new at 10", {}},
                                 batch.back(), LogEntry{batch.back().timestamp_ns, "new at end", {}}};
  CHECK(store->push(request({stream({{"app", "api"}}, mixed)})).value().entries_accepted == 2);
  CHECK(everything(*store, Direction::forward).size() == 52);
}

TEST_CASE("the background compactor compacts a stream's head blocks by size and by age") {
  TempDir dir;
  // Pushes of about 1.7 KB of lines: the size trigger takes most of them; the few left below
  // 4 KB when the pushes stop are taken by the age trigger.
  auto store = open_store(dir, {{"chunk_target_size", "4KB"},
                                {"chunk_max_age", "200ms"},
                                {"compaction_interval", "50ms"}});
  for (std::uint32_t push = 0; push < 10; ++push) {
    REQUIRE(store->push(request({stream({{"app", "api"}},
                                        service_lines(20, kBase + push * 100'000, push))}))
                .ok());
  }
  LocalStore::StorageStats stats;
  for (int attempt = 0; attempt < 200; ++attempt) {
    stats = store->storage_stats().value();
    if (stats.chunks > 0 && stats.head_blocks == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(stats.chunks > 0);
  CHECK(stats.head_blocks == 0);
  CHECK(stats.entries == 200);
}

TEST_CASE("retention deletes a tenant's chunks older than its retention period") {
  TempDir dir;
  auto store = open_store(dir, {{"compaction_interval", 0},
                                {"limits", {{"retention_period", "24h"}}},
                                {"overrides", {{"keeper", {{"retention_period", "0s"}}}}}});
  const std::int64_t now = now_ns();
  const std::int64_t day = 86'400LL * 1'000'000'000;
  auto old_lines = service_lines(30, now - 3 * day, 1);
  auto recent_lines = service_lines(30, now - day / 2, 2);
  for (const char* tenant : {"fake", "keeper"}) {
    REQUIRE(store->push(request({stream({{"app", "old"}}, old_lines)}, tenant)).ok());
    REQUIRE(store->push(request({stream({{"app", "recent"}}, recent_lines)}, tenant)).ok());
  }
  REQUIRE(store->compact(true).ok());
  const TimeRange all{now - 10 * day, now + day};
  CHECK(store->stats("fake", "{app=~\".+\"}", all).value().entries == 30);
  CHECK(store->labels("fake", all).value() == std::vector<std::string>{"app"});
  CHECK(store->label_values("fake", "app", all).value() == std::vector<std::string>{"recent"});
  CHECK(store->stats("keeper", "{app=~\".+\"}", all).value().entries == 60);
  CHECK(store->health().detail.find("90 entries") != std::string::npos);
}

TEST_CASE("a version 1 database is upgraded with every entry, in order") {
  TempDir dir;
  {
    auto connection = Connection::open(dir.file("test.db"), true);
    REQUIRE(connection.ok());
    Connection& db = *connection.value();
    // The version 1 layout, as earlier builds wrote it.
    REQUIRE(db.exec(R"sql(
      CREATE TABLE schema_version (version INTEGER NOT NULL);
      CREATE TABLE streams (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, labels_key TEXT NOT NULL,
        fingerprint INTEGER NOT NULL, service TEXT NOT NULL, min_ns INTEGER NOT NULL,
        max_ns INTEGER NOT NULL, created_ns INTEGER NOT NULL, UNIQUE (tenant, labels_key));
      CREATE TABLE label_postings (tenant TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
        stream_id INTEGER NOT NULL REFERENCES streams (id),
        PRIMARY KEY (tenant, name, value, stream_id)) WITHOUT ROWID;
      CREATE TABLE entries (id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL REFERENCES streams (id),
        ts INTEGER NOT NULL, line BLOB NOT NULL, metadata TEXT, level TEXT NOT NULL);
      CREATE INDEX entries_by_stream_time ON entries (stream_id, ts);
      CREATE INDEX entries_by_time ON entries (ts, stream_id);
      CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO counters (name, value) VALUES ('entries', 3), ('bytes', 9);
      INSERT INTO schema_version (version) VALUES (1);
      INSERT INTO streams VALUES (1, 'fake', '{app="api"}', 1, 'api', 1700000000000000010,
                                  1700000000000000030, 0);
      INSERT INTO label_postings VALUES ('fake', 'app', 'api', 1);
      INSERT INTO entries (stream_id, ts, line, metadata, level) VALUES
        (1, 1700000000000000030, 'three', NULL, 'info'),
        (1, 1700000000000000010, 'one', '{"trace_id":"abc"}', 'error'),
        (1, 1700000000000000030, 'four', NULL, 'info');
    )sql")
                .ok());
  }
  auto store = open_store(dir, {{"compaction_interval", 0}});
  CHECK(everything(*store, Direction::forward) ==
        std::vector<std::string>{R"({app="api"} 10 one)", R"({app="api"} 30 three)",
                                 R"({app="api"} 30 four)"});
  auto metrics = store->metrics("fake", range(0, 100)).value();
  CHECK(metrics.error_lines == 1);
  auto connection = Connection::open(dir.file("test.db"), false);
  auto tables = connection.value()->prepare(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'entries'");
  REQUIRE(tables.value().step().value());
  CHECK(tables.value().column_int(0) == 0);
}

}  // namespace lognurse::local_store::test
