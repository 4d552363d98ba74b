#include "plugin_metrics.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "prometheus_text.hpp"

namespace lognurse::host {

namespace {

using Kind = PluginMetrics::Kind;

const char* type_name(Kind kind) {
  switch (kind) {
    case Kind::counter: return "counter";
    case Kind::gauge: return "gauge";
    case Kind::histogram: return "histogram";
  }
  return "untyped";
}

const char* kHistogramSuffixes[] = {"_bucket", "_sum", "_count"};

/// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates).
bool is_utf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 1;
    std::uint32_t code = lead;
    if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code = lead & 0x07U;
    } else if (lead >= 0xE0) {
      length = 3;
      code = lead & 0x0FU;
    } else if (lead >= 0xC2 && lead < 0xE0) {
      length = 2;
      code = lead & 0x1FU;
    } else if (lead >= 0x80) {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0U) != 0x80U) return false;
      code = (code << 6U) | (next & 0x3FU);
    }
    if ((length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (length == 4 && (code < 0x10000 || code > 0x10FFFF))) {
      return false;
    }
    i += length;
  }
  return true;
}

Error conflict(const std::string& message) {
  return invalid_argument("metrics.conflict", message);
}

/// Checks the label pairs and returns them sorted by name.
Result<MetricLabels> sorted_labels(const std::string& name, Kind kind, MetricLabels labels) {
  std::sort(labels.begin(), labels.end());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& [label, value] = labels[i];
    if (!prometheus::is_label_name(label)) {
      return invalid_argument("metrics.invalid_label",
                              "metric " + name + ": label name \"" + label +
                                  "\" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __");
    }
    if (kind == Kind::histogram && label == "le") {
      return invalid_argument("metrics.invalid_label",
                              "histogram " + name + ": the label name le is reserved for buckets");
    }
    if (i > 0 && labels[i - 1].first == label) {
      return invalid_argument("metrics.invalid_label",
                              "metric " + name + ": label " + label + " is given twice");
    }
    if (!is_utf8(value)) {
      return invalid_argument("metrics.invalid_label",
                              "metric " + name + ": the value of label " + label +
                                  " is not valid UTF-8");
    }
  }
  return labels;
}

Status check_bounds(const std::string& name, const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return invalid_argument("metrics.invalid_bounds",
                              "histogram " + name +
                                  ": bucket bounds must be finite and strictly increasing");
    }
  }
  return success();
}

}  // namespace

/// One series: its value and how it is written.
struct PluginMetrics::Series {
  virtual ~Series() = default;
  virtual void render(std::string& out, const std::string& name,
                      const std::string& labels) const = 0;
};

namespace {

std::string sample_line(const std::string& name, const std::string& labels,
                        const std::string& value) {
  return name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
}

class CounterSeries final : public PluginMetrics::Series, public MetricCounter {
public:
  void add(std::uint64_t amount) noexcept override {
    value_.fetch_add(amount, std::memory_order_relaxed);
  }
  void render(std::string& out, const std::string& name,
              const std::string& labels) const override {
    out += sample_line(name, labels, std::to_string(value_.load(std::memory_order_relaxed)));
  }

private:
  std::atomic<std::uint64_t> value_{0};
};

class GaugeSeries final : public PluginMetrics::Series, public MetricGauge {
public:
  void set(double value) noexcept override { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) noexcept override {
    value_.fetch_add(delta, std::memory_order_relaxed);
  }
  void render(std::string& out, const std::string& name,
              const std::string& labels) const override {
    out += sample_line(name, labels, prometheus::number(value_.load(std::memory_order_relaxed)));
  }

private:
  std::atomic<double> value_{0};
};

class HistogramSeries final : public PluginMetrics::Series, public MetricHistogram {
public:
  explicit HistogramSeries(std::vector<double> bounds)
      : bounds_(std::move(bounds)),
        counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

  void observe(double value) noexcept override {
    // A value equal to a bound belongs to that bound's bucket (le); NaN to +Inf's.
    const auto bucket =
        std::isnan(value) ? bounds_.size()
                          : static_cast<std::size_t>(
                                std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                bounds_.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  void render(std::string& out, const std::string& name,
              const std::string& labels) const override {
    std::vector<std::uint64_t> counts(bounds_.size() + 1);
    for (std::size_t i = 0; i < counts.size(); ++i) {
      counts[i] = counts_[i].load(std::memory_order_relaxed);
    }
    prometheus::append_histogram(out, name, labels, bounds_, counts,
                                 sum_.load(std::memory_order_relaxed));
  }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

/// The sink one plugin holds; it keeps the store alive.
class PluginSink final : public MetricsSink {
public:
  PluginSink(std::shared_ptr<PluginMetrics> store, std::string plugin)
      : store_(std::move(store)),
        plugin_(std::move(plugin)),
        prefix_(PluginMetrics::prefix_of(plugin_)) {}

  Result<std::shared_ptr<MetricCounter>> counter(const MetricInfo& info,
                                                 const MetricLabels& labels) override {
    return typed<CounterSeries, MetricCounter>(Kind::counter, info, labels, {});
  }

  Result<std::shared_ptr<MetricGauge>> gauge(const MetricInfo& info,
                                             const MetricLabels& labels) override {
    return typed<GaugeSeries, MetricGauge>(Kind::gauge, info, labels, {});
  }

  Result<std::shared_ptr<MetricHistogram>> histogram(const MetricInfo& info,
                                                     const MetricLabels& labels,
                                                     const std::vector<double>& bounds) override {
    return typed<HistogramSeries, MetricHistogram>(Kind::histogram, info, labels, bounds);
  }

private:
  template <typename SeriesType, typename Handle>
  Result<std::shared_ptr<Handle>> typed(Kind kind, const MetricInfo& info,
                                        const MetricLabels& labels,
                                        const std::vector<double>& bounds) {
    if (!prometheus::is_metric_name(info.name)) {
      return invalid_argument("metrics.invalid_name",
                              "plugin " + plugin_ + ": metric name \"" + info.name +
                                  "\" must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    auto found = store_->series(plugin_, kind, prefix_ + info.name, info.help, labels, bounds);
    if (!found) return found.error();
    // series() checked the kind, so the series is of SeriesType.
    return std::shared_ptr<Handle>(std::static_pointer_cast<SeriesType>(found.value()));
  }

  std::shared_ptr<PluginMetrics> store_;
  std::string plugin_;
  std::string prefix_;
};

}  // namespace

std::string PluginMetrics::prefix_of(const std::string& plugin) {
  std::string prefix = kPluginMetricPrefix;
  for (const char c : plugin) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_';
    prefix += keep ? c : '_';
  }
  return prefix + "_";
}

std::shared_ptr<MetricsSink> PluginMetrics::sink_for(const std::string& plugin) {
  return std::make_shared<PluginSink>(shared_from_this(), plugin);
}

Status PluginMetrics::check_new_family(const std::string& owner, Kind kind,
                                       const std::string& name) const {
  // A histogram's lines use three more names; none may be another family's.
  for (const char* suffix : kHistogramSuffixes) {
    if (kind == Kind::histogram && families_.count(name + suffix) != 0) {
      return conflict("plugin " + owner + ": histogram " + name + " would write " + name + suffix +
                      ", which is already a metric");
    }
    const std::string text = suffix;
    if (name.size() > text.size() && name.ends_with(text)) {
      const auto base = families_.find(name.substr(0, name.size() - text.size()));
      if (base != families_.end() && base->second.kind == Kind::histogram) {
        return conflict("plugin " + owner + ": metric " + name + " is a line of histogram " +
                        base->first);
      }
    }
  }
  return success();
}

Result<std::shared_ptr<PluginMetrics::Series>> PluginMetrics::series(
    const std::string& owner, Kind kind, const std::string& name, const std::string& help,
    const MetricLabels& labels, const std::vector<double>& bounds) {
  auto sorted = sorted_labels(name, kind, labels);
  if (!sorted) return sorted.error();
  if (kind == Kind::histogram) {
    if (auto valid = check_bounds(name, bounds); !valid) return valid.error();
  }

  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    if (auto free = check_new_family(owner, kind, name); !free) return free.error();
    it = families_.emplace(name, Family{kind, help, owner, bounds, {}}).first;
  }
  Family& family = it->second;
  if (family.owner != owner) {
    return conflict("plugin " + owner + ": metric " + name + " belongs to plugin " +
                    family.owner);
  }
  if (family.kind != kind) {
    return conflict("plugin " + owner + ": metric " + name + " is a " + type_name(family.kind) +
                    ", not a " + type_name(kind));
  }
  if (family.help != help) {
    return conflict("plugin " + owner + ": metric " + name +
                    " was registered with another help text; one family has one");
  }
  if (kind == Kind::histogram && family.bounds != bounds) {
    return conflict("plugin " + owner + ": histogram " + name +
                    " was registered with other bucket bounds");
  }

  auto& slot = family.series[sorted.value()];
  if (!slot) {
    switch (kind) {
      case Kind::counter: slot = std::make_shared<CounterSeries>(); break;
      case Kind::gauge: slot = std::make_shared<GaugeSeries>(); break;
      case Kind::histogram: slot = std::make_shared<HistogramSeries>(bounds); break;
    }
  }
  return slot;
}

void PluginMetrics::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    out += prometheus::family_header(name, family.help, type_name(family.kind));
    for (const auto& [labels, series] : family.series) {
      series->render(out, name, prometheus::render_labels(labels));
    }
  }
}

}  // namespace lognurse::host
