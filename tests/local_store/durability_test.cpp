// Durability: an acknowledged push survives the process being killed.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>

#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

constexpr int kEntriesPerStream = 5;
constexpr int kAcksBeforeKill = 40;

/// Batch `batch` writes kEntriesPerStream entries to each of two streams.
PushRequest batch_request(int batch) {
  std::vector<LogEntry> api;
  std::vector<LogEntry> web;
  for (int i = 0; i < kEntriesPerStream; ++i) {
    std::int64_t offset = static_cast<std::int64_t>(batch) * 100 + i;
    api.push_back(entry(offset, "batch " + std::to_string(batch) + " api " + std::to_string(i)));
    web.push_back(entry(offset, "batch " + std::to_string(batch) + " web " + std::to_string(i)));
  }
  return request({stream({{"app", "api"}}, std::move(api)), stream({{"app", "web"}}, web)});
}

/// The child pushes batches forever and writes each acknowledged batch number to `ack_fd`.
[[noreturn]] void push_until_killed(const std::string& path, int ack_fd) {
  try {
    auto config = parse_store_config(as_pushed({{"path", path}}), "");
    LocalStore store(config.value(), nullptr);
    for (int batch = 0;; ++batch) {
      if (!store.push(batch_request(batch)).ok()) _exit(3);
      if (::write(ack_fd, &batch, sizeof batch) != sizeof batch) _exit(4);
    }
  } catch (...) {
    _exit(5);
  }
}

}  // namespace

TEST_CASE("every acknowledged push is found exactly once after a SIGKILL") {
  TempDir dir;
  std::string path = dir.file("crash.db");
  int fds[2];
  REQUIRE(::pipe(fds) == 0);

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    push_until_killed(path, fds[1]);
  }
  ::close(fds[1]);

  int last_acked = -1;
  for (int received = 0; received < kAcksBeforeKill; ++received) {
    int batch = -1;
    REQUIRE(::read(fds[0], &batch, sizeof batch) == sizeof batch);
    last_acked = batch;
  }
  // Killed right after an acknowledgement, most likely in the middle of the next push.
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  ::close(fds[0]);
  REQUIRE(last_acked == kAcksBeforeKill - 1);

  auto store = open_store(dir, {{"path", path}});
  std::map<std::string, int> copies;
  auto scanned = store->scan("fake", scan_request({}, 0, 1'000'000'000, Direction::forward),
                             [&](const Labels& labels, const LogEntry& e) {
                               ++copies[describe(labels, e)];
                               return true;
                             });
  REQUIRE(scanned.ok());
  for (int batch = 0; batch <= last_acked; ++batch) {
    INFO("batch " << batch);
    PushRequest acked = batch_request(batch);
    for (const auto& pushed : acked.streams) {
      for (const auto& e : pushed.entries) CHECK(copies[describe(pushed.labels, e)] == 1);
    }
  }
  // A push cut short by the kill is entirely present or entirely absent.
  std::size_t acked_entries = static_cast<std::size_t>(kAcksBeforeKill) * 2 * kEntriesPerStream;
  CHECK((copies.size() - acked_entries) % (2 * kEntriesPerStream) == 0);
  for (const auto& [entry, count] : copies) CHECK(count == 1);
  CHECK(store->health().ready);
}

}  // namespace lognurse::local_store::test
