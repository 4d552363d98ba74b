#pragma once

// ChunkPrefetcher: decodes the chunks a scan is about to open on a second
// thread, so that decompression and the literal search of one chunk overlap
// the evaluation of the entries before it. The scan keeps reading SQLite on
// its own thread (its read transaction belongs to it) and hands over the
// stored bytes; at most a few chunks wait decoded at a time.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chunk_format.hpp"
#include "chunks.hpp"
#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::local_store {

class ChunkPrefetcher {
public:
  /// What the scan hands over: a chunk's stored bytes.
  struct Job {
    std::size_t index = 0;  ///< the scan's number for the chunk, increasing
    ChunkStatements::StoredBytes bytes;
    bool compacted = false;
  };

  /// What comes back: the decoded block and the positions of its entries in `range` whose
  /// lines hold every literal.
  struct Decoded {
    Result<DecodedBlock> block = DecodedBlock();
    std::vector<std::uint32_t> positions;
  };

  /// Decoded blocks take their memory from `pool`, which must outlive them.
  ChunkPrefetcher(TimeRange range, std::vector<std::string> literals, BlockPool& pool);
  ~ChunkPrefetcher();  ///< stops the thread; undelivered work is dropped

  ChunkPrefetcher(const ChunkPrefetcher&) = delete;
  ChunkPrefetcher& operator=(const ChunkPrefetcher&) = delete;

  void submit(Job job);

  /// Waits for the chunk numbered `index`, which must have been submitted.
  Decoded take(std::size_t index);

private:
  void run();

  const TimeRange range_;
  const std::vector<std::string> literals_;
  BlockPool& pool_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::map<std::size_t, Decoded> done_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace lognurse::local_store
