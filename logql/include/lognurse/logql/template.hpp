#pragma once

// The Go text/template language that line_format and label_format accept:
// {{.label}}, field chains (.a.b, $x.a), pipelines with arguments,
// parentheses, {{if}}/{{else if}}/{{else}}, {{with}}, {{range}} with
// {{else}}, {{break}} and {{continue}}, $variables scoped to their block,
// {{- and -}} trimming, comments, and Loki's template functions (sprig's
// string, math and date functions, fromJson, count, regexReplaceAll, ...)
// plus Go's index, len, print, println, printf, and, or, not, eq ... ge.
// A missing label renders as the empty string, as in Loki.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace lognurse::logql {

/// What a template reads while rendering one entry.
class TemplateData {
public:
  virtual ~TemplateData() = default;

  /// The value of a label, or nullptr when the entry has none.
  virtual const std::string* label(std::string_view name) const = 0;

  /// The log line, for __line__.
  virtual std::string_view line() const = 0;

  /// The entry's timestamp, for __timestamp__ (rendered as RFC 3339).
  virtual std::int64_t timestamp_ns() const = 0;

  /// Calls visit(name, value) for every label, in any order: what
  /// {{ range $name, $value := . }} iterates (in name order).
  virtual void each_label(
      const std::function<void(std::string_view, std::string_view)>& visit) const = 0;
};

struct TemplateNode;

/// A compiled template. Immutable after compile(), so one instance may render
/// from several threads at once.
class Template {
public:
  /// Compiles `text`. On failure returns nullptr and sets `error` to a message
  /// naming what is wrong ("function \"Upper\" not defined").
  static std::shared_ptr<const Template> compile(std::string_view text, std::string& error);

  /// Renders into `out` (cleared first). Returns false and sets `error` when
  /// execution fails, e.g. trunc given a non-number.
  bool render(const TemplateData& data, std::string& out, std::string& error) const;

  /// Whether the template is only literal text (no actions).
  bool is_literal() const;

  ~Template();
  Template(const Template&) = delete;
  Template& operator=(const Template&) = delete;

  /// Use compile(); public only for std::make_shared.
  Template();

private:
  std::unique_ptr<TemplateNode> root_;
};

}  // namespace lognurse::logql
