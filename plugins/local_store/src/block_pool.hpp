#pragma once

// BlockPool: the memory of decoded blocks, reused within a byte budget.
//
// A scan opens and drops many decoded blocks of similar sizes, and fresh memory of that size
// costs a page fault per page, so freed buffers are kept for the next block. The pool keeps
// them only while the bytes handed out plus the bytes kept stay within its budget: a buffer
// given back beyond it is freed at once, and a buffer taken new first frees kept ones to make
// room. What a store holds in decoded blocks is therefore about max(budget, bytes in use);
// the bytes in use are not capped, since a scan needs one block per stream it reads at a
// point in time (see LocalStore), but kept memory never adds to them beyond the budget.
//
// Buffers of kMappedBytes and more are mapped from the kernel (mmap) and unmapped when
// freed, so that freeing one returns its pages at once. Through malloc, glibc raises its
// mmap threshold after the first such buffer is freed and serves later ones from its arenas,
// where freed memory stays resident: under the load test (bench/load/run.sh) the arenas held
// 35 to 67 MB free but resident beside 35 to 60 MB in use, and the resident total swung with
// them. Smaller buffers come from operator new and are never kept; they are counted while in
// use all the same.
//
// Thread safe. The pool must outlive every buffer taken from it.

#include <cstddef>
#include <map>
#include <mutex>

namespace lognurse::local_store {

class BlockPool {
public:
  /// Buffers from this size on are mapped, rounded up to a size class, and kept for reuse.
  static constexpr std::size_t kMappedBytes = 64 * 1024;

  /// Memory taken from a pool; given back when destroyed. Move-only.
  class Buffer {
  public:
    Buffer() = default;
    ~Buffer() { reset(); }
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    char* data() const { return data_; }
    /// Bytes usable at data(): at least what was asked for.
    std::size_t capacity() const { return capacity_; }

    /// Gives the memory back to its pool now; the buffer is empty afterwards.
    void reset();

  private:
    friend class BlockPool;
    Buffer(BlockPool* pool, char* data, std::size_t capacity)
        : pool_(pool), data_(data), capacity_(capacity) {}

    BlockPool* pool_ = nullptr;
    char* data_ = nullptr;
    std::size_t capacity_ = 0;
  };

  /// A pool that keeps at most `budget_bytes` of freed buffers, less the bytes in use.
  explicit BlockPool(std::size_t budget_bytes);
  ~BlockPool();  ///< frees the kept buffers
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  /// At least `size` bytes, uninitialised: the smallest kept buffer that fits and is at most
  /// twice the size class of `size`, otherwise new memory. Throws std::bad_alloc when the
  /// system has none. A `size` of zero gives an empty buffer.
  Buffer take(std::size_t size);

  /// What the pool accounts for, in bytes of capacity.
  struct Usage {
    std::size_t in_use_bytes = 0;  ///< handed out and not given back
    std::size_t kept_bytes = 0;    ///< freed buffers kept for reuse
    std::size_t kept_buffers = 0;
  };
  Usage usage() const;

  std::size_t budget() const { return budget_; }

  /// Whether the bytes in use alone have reached the budget. Work that only makes a scan
  /// faster (decoding ahead) waits while this is true.
  bool in_use_over_budget() const;

  /// The capacity `take(size)` gives new memory: `size` below kMappedBytes; from there up,
  /// rounded up to a multiple of an eighth of the largest power of two not above it, so that
  /// blocks of similar sizes share a class and no more than 1/8 is wasted.
  static std::size_t size_class(std::size_t size);

  /// A pool with a budget of zero, which keeps nothing: for decoding outside a store (tests,
  /// tools, the schema upgrade).
  static BlockPool& unpooled();

private:
  void give_back(char* data, std::size_t capacity);
  static char* allocate(std::size_t capacity);
  static void release(char* data, std::size_t capacity);

  const std::size_t budget_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, char*> kept_;  // capacity → memory
  std::size_t in_use_ = 0;
  std::size_t kept_bytes_ = 0;
};

}  // namespace lognurse::local_store
