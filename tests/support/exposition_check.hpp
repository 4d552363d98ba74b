#pragma once

// A strict reader of the Prometheus text format (0.0.4) for tests: it says
// what is wrong with an exposition, or returns every sample it holds. It
// checks what a scraper relies on: HELP and TYPE at most once per family and
// before its samples, one block per family, sample names that belong to the
// family (_bucket, _sum, _count for histograms), label names, escapes in
// label values, and values that parse as numbers.

#include <map>
#include <string>
#include <vector>

namespace lognurse::test {

/// One sample: its name, labels (unescaped) and value text.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;
};

/// The samples of `text`, or the first problem in `problem` (then empty).
std::vector<Sample> read_exposition(const std::string& text, std::string& problem);

/// The value of the one sample named `name` whose labels include `labels`, or
/// "" when there is none.
std::string sample_value(const std::vector<Sample>& samples, const std::string& name,
                         const std::map<std::string, std::string>& labels = {});

}  // namespace lognurse::test
