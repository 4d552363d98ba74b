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
