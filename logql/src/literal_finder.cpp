#include "lognurse/logql/literal_finder.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LOGNURSE_LITERAL_FINDER_AVX2 1
#endif

namespace lognurse::logql {

namespace {

/// How common a byte is in log text, roughly: higher is more common. Bytes not listed
/// (upper case past the first letters, most punctuation, control and non-ASCII bytes) count
/// as rare.
int byte_commonness(unsigned char c) {
  static constexpr std::string_view kByCommonness =
      "_ETAOINSRHLDCUMFPGWYBVKXJQZ}{][/-,.:\"=9876543210zqjxkvbywgpfmucdlhrsnioate ";
  const std::size_t at = kByCommonness.find(static_cast<char>(c));
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

#if defined(LOGNURSE_LITERAL_FINDER_AVX2)
bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") != 0;
  return has;
}

/// find()'s block loop 32 positions at a time, for processors with AVX2 (the build targets
/// the x86-64 baseline, so this is chosen at run time). Returns the match or npos with `i`
/// at the first position it did not look at.
__attribute__((target("avx2"))) std::size_t find_avx2(std::string_view text, std::size_t& i,
                                                      std::string_view needle, std::size_t rare,
                                                      std::size_t other, std::size_t reach) {
  const char* data = text.data();
  const __m256i rare_byte = _mm256_set1_epi8(needle[rare]);
  const __m256i other_byte = _mm256_set1_epi8(needle[other]);
  for (; i + reach + 32 <= text.size(); i += 32) {
    const __m256i at_rare =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + rare));
    const __m256i at_other =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + other));
    auto mask = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_and_si256(
        _mm256_cmpeq_epi8(at_rare, rare_byte), _mm256_cmpeq_epi8(at_other, other_byte))));
    while (mask != 0) {
      const auto at = i + static_cast<std::size_t>(__builtin_ctz(mask));
      if (at + needle.size() <= text.size() &&
          std::memcmp(data + at, needle.data(), needle.size()) == 0) {
        return at;
      }
      mask &= mask - 1;
    }
  }
  return LiteralFinder::npos;
}
#endif

}  // namespace

LiteralFinder::LiteralFinder(std::string needle, Width width) : needle_(std::move(needle)) {
#if defined(LOGNURSE_LITERAL_FINDER_AVX2)
  wide_ = width == Width::widest && cpu_has_avx2();
#else
  (void)width;
#endif
  const std::size_t n = needle_.size();
  if (n < 2) return;
  auto commonness = [&](std::size_t k) {
    return byte_commonness(static_cast<unsigned char>(needle_[k]));
  };
  for (std::size_t k = 1; k < n; ++k) {
    if (commonness(k) < commonness(rare_)) rare_ = k;
  }
  other_ = rare_ == 0 ? 1 : 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (k != rare_ && commonness(k) < commonness(other_)) other_ = k;
  }
  reach_ = std::max(rare_, other_);
}

std::size_t LiteralFinder::find(std::string_view text, std::size_t from) const {
  const std::size_t n = needle_.size();
  if (from > text.size()) return npos;
  if (n == 0) return from;
  if (n > text.size() - from) return npos;
  const char* data = text.data();
  if (n == 1) {
    const void* hit = std::memchr(data + from, needle_[0], text.size() - from);
    return hit == nullptr ? npos
                          : static_cast<std::size_t>(static_cast<const char*>(hit) - data);
  }
  std::size_t i = from;
#if defined(LOGNURSE_LITERAL_FINDER_AVX2)
  if (wide_) {
    const std::size_t found = find_avx2(text, i, needle_, rare_, other_, reach_);
    if (found != npos) return found;
  }
#endif
#if defined(__SSE2__)
  {
    const __m128i rare_byte = _mm_set1_epi8(needle_[rare_]);
    const __m128i other_byte = _mm_set1_epi8(needle_[other_]);
    for (; i + reach_ + 16 <= text.size(); i += 16) {
      const __m128i at_rare = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + rare_));
      const __m128i at_other =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + other_));
      auto mask = static_cast<unsigned>(_mm_movemask_epi8(
          _mm_and_si128(_mm_cmpeq_epi8(at_rare, rare_byte), _mm_cmpeq_epi8(at_other, other_byte))));
      while (mask != 0) {
        const auto at = i + static_cast<std::size_t>(__builtin_ctz(mask));
        if (at + n <= text.size() && std::memcmp(data + at, needle_.data(), n) == 0) return at;
        mask &= mask - 1;
      }
    }
  }
#endif
  // What is left is shorter than a block and its reach: memmem's setup would cost more than
  // comparing the two bytes at each position.
  const char rare = needle_[rare_];
  const char other = needle_[other_];
  for (; i + n <= text.size(); ++i) {
    if (data[i + rare_] == rare && data[i + other_] == other &&
        std::memcmp(data + i, needle_.data(), n) == 0) {
      return i;
    }
  }
  return npos;
}

}  // namespace lognurse::logql
