#pragma once

// A query result written out exactly, for tests that compare two ways of
// computing one result (sharded and not, for example) bit for bit.

#include <cstdint>
#include <string>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::test {

/// The result type, each series with its labels and samples (timestamps less
/// `time_base`, values as the bits of their doubles), and the scan statistics
/// (lines, bytes, streams); an error as its code and message.
std::string exact_result(const Result<QueryResult>& result, std::int64_t time_base = 0);

}  // namespace lognurse::test
