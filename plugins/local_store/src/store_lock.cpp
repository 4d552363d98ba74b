#include "store_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace lognurse::local_store {

namespace {

/// What the holder wrote into the lock file ("pid 1234"), or "".
std::string holder_of(int fd) {
  char text[64] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  if (n <= 0) return "";
  std::string holder(text, static_cast<std::size_t>(n));
  while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
  return holder;
}

}  // namespace

Result<StoreLock> StoreLock::acquire(const std::string& database_path) {
  const std::string path = database_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return unavailable("store.cannot_open", "cannot open the store's lock file " + path + ": " +
                                         std::strerror(errno) +
                                         "; check the permissions of its directory");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const std::string holder = holder_of(fd);
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return unavailable("store.cannot_open", "cannot lock " + path + ": " + std::strerror(error));
    }
    return unavailable(
        "store.in_use",
        "the store " + database_path + " is open in another process" +
            (holder.empty() ? "" : " (" + holder + ")") +
            "; one process at a time may open it. Reach that process over HTTP instead (the "
            "Loki push and query API, /api/nurse/logs/, /mcp), stop it first, or give this "
            "command another --data-dir");
  }
  const std::string holder = "pid " + std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    (void)::pwrite(fd, holder.data(), holder.size(), 0);
  }
  return StoreLock(fd);
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

StoreLock::StoreLock(StoreLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

StoreLock& StoreLock::operator=(StoreLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

}  // namespace lognurse::local_store
