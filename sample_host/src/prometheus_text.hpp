#pragma once

// Pieces of the Prometheus text exposition format (0.0.4) shared by the
// host's own metrics and those plugins publish: names, escaping, numbers and
// the lines of a histogram.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lognurse::host::prometheus {

/// Whether `name` is a metric name the format carries without quoting:
/// [a-zA-Z_][a-zA-Z0-9_]* (colons are left to recording rules).
bool is_metric_name(std::string_view name);

/// Whether `name` is a label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with
/// "__" (reserved for Prometheus itself).
bool is_label_name(std::string_view name);

/// A label value escaped as the format wants: backslash, quote and newline.
std::string escape_label_value(std::string_view value);

/// HELP text escaped as the format wants: backslash and newline.
std::string escape_help(std::string_view help);

/// The shortest text that reads back as `value`; "NaN", "+Inf" and "-Inf"
/// for the values that have no digits.
std::string number(double value);

/// `a="x",b="y"` from label pairs, values escaped, in the order given.
std::string render_labels(const std::vector<std::pair<std::string, std::string>>& labels);

/// "# HELP name help\n# TYPE name type\n".
std::string family_header(const std::string& name, std::string_view help, std::string_view type);

/// Appends the _bucket, _sum and _count lines of histogram `name` with
/// `labels` (rendered as by render_labels, possibly empty). `counts` holds one
/// count per bound plus the +Inf bucket, not cumulative; the total count is
/// their sum, so _count always equals the +Inf bucket.
void append_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const std::vector<double>& bounds, const std::vector<std::uint64_t>& counts,
                      double sum);

}  // namespace lognurse::host::prometheus
