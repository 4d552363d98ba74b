#pragma once

// The compiled log pipeline: what runs per entry. Compiling does all the
// expensive work once (RE2 programs, templates, patterns, JSON paths), and the
// per-entry state lives in buffers that are reused from entry to entry, so a
// pipeline that keeps or drops a line without changing labels allocates
// nothing. A pipeline instance is not thread safe: use one per thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lognurse/host_api/types.hpp"
#include "lognurse/logql/ast.hpp"

namespace re2 {
class RE2;
}

namespace lognurse::logql {

/// Label set by Loki's parsers when a line can't be parsed, a label filter
/// can't convert a value, or unwrap can't read a number.
inline constexpr const char* kErrorLabel = "__error__";
/// The detail message that goes with kErrorLabel.
inline constexpr const char* kErrorDetailsLabel = "__error_details__";

/// Whether `name` is a valid Prometheus/Loki label name: [a-zA-Z_][a-zA-Z0-9_]*.
bool is_valid_label_name(std::string_view name);

/// Loki's label name sanitising for extracted keys, appended to `out`: every
/// character outside [a-zA-Z0-9_] becomes '_', and when `out` is empty a
/// leading digit gets a '_' prefix.
void sanitize_label_name(std::string_view key, std::string& out);

/// A stream selector with its regular expressions compiled once (anchored, as
/// Loki matches label values as a whole).
class StreamMatcher {
public:
  explicit StreamMatcher(const std::vector<Matcher>& matchers);
  ~StreamMatcher();
  StreamMatcher(StreamMatcher&&) noexcept;
  StreamMatcher& operator=(StreamMatcher&&) noexcept;

  /// Whether `labels` satisfies every matcher; a missing label reads as "".
  bool matches(const Labels& labels) const;

private:
  struct Compiled;
  std::vector<Compiled> matchers_;
};

/// The extracted labels the rest of a query can read, as Loki's parser hints:
/// a parser given hints still reads the whole line (so it still finds and
/// reports errors) but sets only the labels named here and the error labels.
class LabelHints {
public:
  explicit LabelHints(std::vector<std::string> names);

  /// Whether a parser should set the label `name` (its final, sanitised name).
  bool wants(std::string_view name) const;

  /// Whether some wanted name ends with "_extracted".
  bool wants_suffixed() const { return suffixed_; }

  /// The wanted names, sorted, each once.
  const std::vector<std::string>& names() const { return names_; }

private:
  std::vector<std::string> names_;
  bool suffixed_ = false;
};

/// The labels of one entry while the pipeline runs: the stream's labels,
/// structured metadata and what parsers extracted. The stream's labels are
/// read where they are until a stage replaces or removes one, or something
/// needs the whole set in order (size(), at(), retain(), finish()); only then
/// are they copied. Slots are reused between entries, so steady-state
/// processing does not allocate.
class LabelsBuilder {
public:
  /// Starts a new entry; `stream` and `metadata` must outlive it.
  void reset(const Labels& stream, const Labels& metadata);

  /// The value of `name`, or nullptr.
  const std::string* get(std::string_view name) const;

  /// Sets (or replaces) a label.
  void set(std::string_view name, std::string_view value);

  /// Sets a label found by a parser: the key is sanitised, a name that is
  /// also a stream label gets the suffix "_extracted", as Loki does. Does
  /// nothing when `hints` do not want the resulting name.
  void set_extracted(std::string_view key, std::string_view value,
                     const LabelHints* hints = nullptr);

  /// The first half of set_extracted, for parsers that need not read a value
  /// nobody wants: computes the label name of `key` and returns whether
  /// `hints` (nullptr: all) want it. set_prepared() then sets it.
  /// `valid_name` says the caller already knows `key` is a valid label name.
  bool prepare_extracted(std::string_view key, const LabelHints* hints, bool valid_name = false);

  /// Sets the label that the last prepare_extracted() named; the key given
  /// to it must still be alive.
  void set_prepared(std::string_view value) { set(prepared_, value); }

  /// Removes a label if present.
  void remove(std::string_view name);

  /// Whether the stream itself has the label.
  bool stream_has(std::string_view name) const;

  /// Whether __error__ is set.
  bool has_error() const;

  /// Sets __error__ and __error_details__.
  void set_error(std::string_view error, std::string_view details);

  /// Whether any stage set or removed a label since reset().
  bool changed() const { return changed_; }

  /// Number of labels currently set.
  std::size_t size() const {
    gather();
    return count_;
  }

  /// The i-th label, in no particular order until finish() is called.
  const Label& at(std::size_t i) const {
    gather();
    return slots_[i];
  }

  /// Keeps only the labels for which keep(name, value) is true.
  template <typename Keep>
  void retain(Keep&& keep) {
    gather();
    for (std::size_t i = 0; i < count_;) {
      if (keep(slots_[i].first, slots_[i].second)) {
        ++i;
      } else {
        remove_at(i);
      }
    }
  }

  /// Sorts the labels by name. Call before reading the final set in order.
  void finish();

  /// Copies the current labels into `out`, sorted (after finish()).
  void copy_to(Labels& out) const;

  /// A hash of the current label set (after finish()).
  std::size_t hash() const;

  /// Whether the current labels equal `labels` (after finish()).
  bool equals(const Labels& labels) const;

private:
  void remove_at(std::size_t i);
  /// Where the stream label `name` is, if it is still read from the stream.
  std::size_t stream_index(std::string_view name) const;
  /// Copies the stream labels still read from the stream into the slots.
  /// Changes no label, so const readers may call it.
  void gather() const;
  void append(std::string_view name, std::string_view value) const;

  static constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

  const Labels* stream_ = nullptr;
  /// Bit i: stream label i is no longer read from the stream (replaced or
  /// removed). A stream of more than 64 labels is gathered at once.
  std::uint64_t stream_done_ = 0;
  mutable bool gathered_ = false;  ///< the stream's labels are all in the slots
  mutable std::vector<Label> slots_;
  mutable std::size_t count_ = 0;
  bool changed_ = false;
  std::string scratch_;
  std::string_view prepared_;  ///< the key itself or scratch_
};

class StageRunner;

/// A compiled pipeline of one log query (or of the log part of a range
/// aggregation).
class LogPipeline {
public:
  /// Compiles the stages of `log` (its selector is not used). The expression
  /// must come from parse(), which has already checked regexes and templates.
  /// `needed` names the labels that whoever reads the result uses (a metric
  /// query's grouping, its unwrap label); with it, parsers extract only those
  /// and what later stages read. Without it (log queries, which return every
  /// label) parsers extract everything.
  explicit LogPipeline(const LogExpr& log,
                       const std::optional<std::vector<std::string>>& needed = std::nullopt);
  ~LogPipeline();
  LogPipeline(LogPipeline&&) noexcept;
  LogPipeline& operator=(LogPipeline&&) noexcept;

  /// Runs every stage on one entry. Returns false when a filter drops it;
  /// otherwise line() and labels() hold the result until the next call.
  bool process(const Labels& stream_labels, const LogEntry& entry);

  /// The line after formatting stages.
  std::string_view line() const { return line_; }

  /// The entry's labels; call labels().finish() before reading them in order.
  LabelsBuilder& labels() { return labels_; }

  /// Whether the pipeline can change labels at all (parsers, formatters,
  /// drop, keep, label filters that may set __error__).
  bool may_change_labels() const { return may_change_labels_; }

  /// Literals every kept line must contain: |= filters with one value that
  /// run before any stage rewrites the line.
  std::vector<std::string> required_literals() const;

  /// Whether some parser extracts only part of what it finds.
  bool uses_hints() const { return !hints_.empty(); }

private:
  friend class StageRunner;
  std::vector<std::unique_ptr<StageRunner>> stages_;
  std::vector<std::unique_ptr<LabelHints>> hints_;  ///< owned for the parser stages
  /// How many stages at the front are line filters: they run before the
  /// labels are built, so that a dropped line costs no label work.
  std::size_t leading_line_filters_ = 0;
  std::vector<std::string> required_literals_;
  bool may_change_labels_ = false;

  std::string_view line_;
  std::string line_buffer_;
  std::int64_t timestamp_ns_ = 0;
  LabelsBuilder labels_;
};

/// The filters that follow unwrap (or any label filter), compiled.
class LabelPredicate;

/// A label filter expression compiled for repeated evaluation.
class CompiledLabelFilter {
public:
  explicit CompiledLabelFilter(const LabelFilterExpr& expr);
  ~CompiledLabelFilter();
  CompiledLabelFilter(CompiledLabelFilter&&) noexcept;
  CompiledLabelFilter& operator=(CompiledLabelFilter&&) noexcept;

  /// Evaluates on `labels` with Loki's semantics: a numeric comparison on a
  /// label that can't be converted sets __error__=LabelFilterErr and keeps the
  /// entry; numeric filters let entries that already carry an error through.
  bool keep(LabelsBuilder& labels) const;

private:
  std::unique_ptr<LabelPredicate> root_;
};

/// Appends the names of the labels that `expr` reads to `names`.
void add_label_filter_names(const LabelFilterExpr& expr, std::vector<std::string>& names);

/// Converts an unwrapped label value. Returns false and sets `error` when the
/// value is not a number (or a duration/byte size for those conversions).
bool convert_unwrap_value(std::string_view value, UnwrapConversion conversion, double& out,
                          std::string& error);

}  // namespace lognurse::logql
