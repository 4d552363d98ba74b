#pragma once

// The one process that may open a store file. The store keeps what it writes next (the
// chunk sequence, each stream's head blocks) and the streams it knows in memory, so a second
// process writing or compacting the same file would collide with the first, and a second
// reader would miss the streams the first adds. The lock is an flock() on a file beside the
// database, which the kernel releases when the process ends, however it ends.

#include <string>

#include "lognurse/host_api/result.hpp"

namespace lognurse::local_store {

class StoreLock {
public:
  /// Takes the lock of the database at `database_path` (the file `<path>.lock`), or says
  /// which process holds it and what to do instead.
  static Result<StoreLock> acquire(const std::string& database_path);

  StoreLock() = default;
  ~StoreLock();
  StoreLock(StoreLock&& other) noexcept;
  StoreLock& operator=(StoreLock&& other) noexcept;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

  bool held() const { return fd_ >= 0; }

private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace lognurse::local_store
