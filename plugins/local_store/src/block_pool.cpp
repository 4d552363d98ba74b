#include "block_pool.hpp"

#include <sys/mman.h>

#include <bit>
#include <new>
#include <utility>
#include <vector>

namespace lognurse::local_store {

BlockPool::Buffer::Buffer(Buffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)) {}

BlockPool::Buffer& BlockPool::Buffer::operator=(Buffer&& other) noexcept {
  if (this == &other) return *this;
  reset();
  pool_ = std::exchange(other.pool_, nullptr);
  data_ = std::exchange(other.data_, nullptr);
  capacity_ = std::exchange(other.capacity_, 0);
  return *this;
}

void BlockPool::Buffer::reset() {
  if (data_ != nullptr) pool_->give_back(data_, capacity_);
  pool_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
}

BlockPool::BlockPool(std::size_t budget_bytes) : budget_(budget_bytes) {}

BlockPool::~BlockPool() {
  for (const auto& [capacity, data] : kept_) release(data, capacity);
}

std::size_t BlockPool::size_class(std::size_t size) {
  if (size < kMappedBytes) return size;
  const std::size_t step = std::bit_floor(size) / 8;
  return (size + step - 1) / step * step;
}

BlockPool::Buffer BlockPool::take(std::size_t size) {
  if (size == 0) return Buffer();
  const std::size_t capacity = size_class(size);
  if (capacity < kMappedBytes) {
    char* data = allocate(capacity);
    std::lock_guard lock(mutex_);
    in_use_ += capacity;
    return Buffer(this, data, capacity);
  }

  std::vector<std::pair<std::size_t, char*>> evicted;
  {
    std::lock_guard lock(mutex_);
    auto fit = kept_.lower_bound(capacity);
    if (fit != kept_.end() && fit->first <= 2 * capacity) {
      Buffer reused(this, fit->second, fit->first);
      kept_bytes_ -= fit->first;
      in_use_ += fit->first;
      kept_.erase(fit);
      return reused;
    }
    // New memory: first free kept buffers, the largest first, until it fits the budget.
    while (!kept_.empty() && in_use_ + kept_bytes_ + capacity > budget_) {
      auto largest = std::prev(kept_.end());
      kept_bytes_ -= largest->first;
      evicted.emplace_back(largest->first, largest->second);
      kept_.erase(largest);
    }
    in_use_ += capacity;
  }
  for (const auto& [bytes, data] : evicted) release(data, bytes);
  try {
    return Buffer(this, allocate(capacity), capacity);
  } catch (...) {
    std::lock_guard lock(mutex_);
    in_use_ -= capacity;
    throw;
  }
}

void BlockPool::give_back(char* data, std::size_t capacity) {
  {
    std::lock_guard lock(mutex_);
    in_use_ -= capacity;
    if (capacity >= kMappedBytes && in_use_ + kept_bytes_ + capacity <= budget_) {
      kept_.emplace(capacity, data);
      kept_bytes_ += capacity;
      return;
    }
  }
  release(data, capacity);
}

BlockPool::Usage BlockPool::usage() const {
  std::lock_guard lock(mutex_);
  return Usage{in_use_, kept_bytes_, kept_.size()};
}

bool BlockPool::in_use_over_budget() const {
  std::lock_guard lock(mutex_);
  return in_use_ >= budget_;
}

BlockPool& BlockPool::unpooled() {
  // Never destroyed, as blocks may outlive static objects; built in static storage rather
  // than on the heap, so that nothing is left allocated when the plugin is unloaded (a pool
  // with a budget of 0 keeps no buffers).
  alignas(BlockPool) static unsigned char storage[sizeof(BlockPool)];
  static BlockPool* pool = new (storage) BlockPool(0);
  return *pool;
}

char* BlockPool::allocate(std::size_t capacity) {
  if (capacity < kMappedBytes) return new char[capacity];
  // Populated at once: the block is written whole right away, and one call faults its pages
  // in faster than a trap per page would.
  void* mapped = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  return static_cast<char*>(mapped);
}

void BlockPool::release(char* data, std::size_t capacity) {
  if (capacity < kMappedBytes) {
    delete[] data;
  } else {
    ::munmap(data, capacity);
  }
}

}  // namespace lognurse::local_store
