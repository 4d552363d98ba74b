#include "chunk_prefetch.hpp"

#include <utility>

namespace lognurse::local_store {

ChunkPrefetcher::ChunkPrefetcher(TimeRange range, std::vector<std::string> literals,
                                 BlockPool& pool)
    : range_(range), literals_(std::move(literals)), pool_(pool), worker_([this] { run(); }) {}

ChunkPrefetcher::~ChunkPrefetcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void ChunkPrefetcher::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
}

ChunkPrefetcher::Decoded ChunkPrefetcher::take(std::size_t index) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return done_.count(index) != 0; });
  auto found = done_.find(index);
  Decoded decoded = std::move(found->second);
  done_.erase(found);
  return decoded;
}

void ChunkPrefetcher::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    Decoded decoded;
    decoded.block = job.compacted ? DecodedBlock::decompress(job.bytes.view(), pool_)
                                  : DecodedBlock::decode(job.bytes.view(), pool_);
    job.bytes.buffer.reset();  // back to the pool for the next chunk's bytes
    if (decoded.block) {
      const DecodedBlock& block = decoded.block.value();
      decoded.positions = block.matching(block.lower_bound(range_.start_ns),
                                         block.lower_bound(range_.end_ns), literals_);
    }
    lock.lock();
    done_.emplace(job.index, std::move(decoded));
    changed_.notify_all();
  }
}

}  // namespace lognurse::local_store
