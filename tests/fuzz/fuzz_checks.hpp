#pragma once

// Invariants shared by the fuzz targets of the push decoders. A broken
// invariant prints what was broken and aborts, which libFuzzer reports as a
// crash with the input that caused it.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::fuzz {

/// Aborts with `what` on standard error unless `condition` holds.
inline void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

/// A refusal carries a stable code and a message saying what was wrong, and maps to a 4xx.
inline void check_refusal(const Error& error) {
  require(!error.code.empty(), "a refusal without an error code");
  require(!error.message.empty(), "a refusal without a message");
  require(error.kind == ErrorKind::invalid_argument || error.kind == ErrorKind::limit_exceeded,
          "a decoder refusal that is not invalid input or a limit (it would be a 5xx)");
}

/// Whether `name` matches [a-zA-Z_][a-zA-Z0-9_]*, Loki's label name syntax.
inline bool is_label_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && (i == 0 || c < '0' || c > '9')) return false;
  }
  return true;
}

/// A stream label set: valid names, sorted by name, each name once.
inline void check_label_set(const Labels& labels) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    require(is_label_name(labels[i].first), "a stream label whose name is not a label name");
    if (i > 0) require(labels[i - 1].first < labels[i].first, "stream labels not sorted or repeated");
  }
}

}  // namespace lognurse::fuzz
