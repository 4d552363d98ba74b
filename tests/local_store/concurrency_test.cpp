// Several threads pushing and reading at once, as the HTTP server does.

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "test_support.hpp"

namespace lognurse::local_store::test {

TEST_CASE("concurrent pushes and reads all succeed and lose nothing") {
  constexpr int kWriters = 4;
  constexpr int kPushesPerWriter = 50;
  TempDir dir;
  auto store = open_store(dir, {{"read_connections", 2}});

  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> threads;
  for (int writer = 0; writer < kWriters; ++writer) {
    threads.emplace_back([&, writer] {
      for (int i = 0; i < kPushesPerWriter; ++i) {
        std::string worker = "w" + std::to_string(writer);
        auto pushed =
            store->push(request({stream({{"app", "load"}, {"worker", worker}},
                                        {entry(i, worker + " entry " + std::to_string(i))})}));
        if (!pushed.ok()) ++failures;
      }
    });
  }
  for (int reader = 0; reader < 3; ++reader) {
    threads.emplace_back([&] {
      while (writing.load()) {
        std::size_t seen = 0;
        auto scanned = store->scan("fake", scan_request({}, 0, 1000, Direction::backward),
                                   [&](const Labels&, const LogEntry&) { return ++seen < 20; });
        if (!scanned.ok()) ++failures;
        if (!store->labels("fake", range(0, 1000)).ok()) ++failures;
        if (!store->metrics("fake", range(0, 1000)).ok()) ++failures;
      }
    });
  }
  for (int writer = 0; writer < kWriters; ++writer) threads[writer].join();
  writing = false;
  for (std::size_t i = kWriters; i < threads.size(); ++i) threads[i].join();

  CHECK(failures == 0);
  auto all = scan_all(*store, "fake", scan_request({}, 0, 1000, Direction::forward));
  CHECK(all.size() == static_cast<std::size_t>(kWriters * kPushesPerWriter));
  CHECK(store->label_values("fake", "worker", range(0, 1000)).value() ==
        std::vector<std::string>{"w0", "w1", "w2", "w3"});
  CHECK(store->metrics("fake", range(0, 1000)).value().lines ==
        static_cast<std::uint64_t>(kWriters * kPushesPerWriter));
}

}  // namespace lognurse::local_store::test

namespace lognurse::local_store::test {

TEST_CASE("readers that always overlap do not let the write-ahead log grow without bound") {
  // Two readers take turns so that one always holds a read transaction: a passive
  // checkpoint can then never restart the log, and each push would append to it.
  constexpr std::size_t kRestartBytes = 1 << 20;
  TempDir dir;
  auto store = open_store(dir, {{"read_connections", 2},
                                {"wal_restart_size", "1MB"},
                                {"limits", {{"ingestion_rate_mb", 1000},
                                            {"ingestion_rate_burst_size_mb", 1000}}}});
  REQUIRE(store->push(request({stream({{"app", "wal"}}, {entry(0, "first")})})).ok());

  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  auto hold_reads = [&](int stagger_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(stagger_ms));
    while (writing.load()) {
      auto scanned = store->scan("fake", scan_request({}, 0, 1'000'000'000, Direction::forward),
                                 [&](const Labels&, const LogEntry&) {
                                   std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                   return false;
                                 });
      if (!scanned.ok()) ++failures;
    }
  };
  std::thread first(hold_reads, 0);
  std::thread second(hold_reads, 10);

  // About 24 MB of log: 24 times the restart size.
  const std::string padding(900, 'x');
  std::uintmax_t largest_wal = 0;
  for (int push = 0; push < 120; ++push) {
    std::vector<LogEntry> entries;
    for (int i = 0; i < 200; ++i) {
      entries.push_back(entry(1 + push * 1000 + i, std::to_string(push) + " " + padding));
    }
    if (!store->push(request({stream({{"app", "wal"}}, std::move(entries))})).ok()) ++failures;
    std::error_code ignored;
    largest_wal = std::max(largest_wal, std::filesystem::file_size(dir.file("test.db-wal"), ignored));
  }
  writing = false;
  first.join();
  second.join();

  CHECK(failures == 0);
  INFO("largest write-ahead log: " << largest_wal << " bytes");
  CHECK(largest_wal < 4 * kRestartBytes);
  CHECK(store->metrics("fake", range(0, 1'000'000'000)).value().lines == 1 + 120 * 200);
}

}  // namespace lognurse::local_store::test
