// The discarding sink, and the anchors of the metric interfaces' type
// information in libhost_api.so.

#include "lognurse/host_api/metrics.hpp"

namespace lognurse {

MetricCounter::~MetricCounter() = default;
MetricGauge::~MetricGauge() = default;
MetricHistogram::~MetricHistogram() = default;
MetricsSink::~MetricsSink() = default;

namespace {

class DiscardingCounter final : public MetricCounter {
public:
  void add(std::uint64_t) noexcept override {}
};

class DiscardingGauge final : public MetricGauge {
public:
  void set(double) noexcept override {}
  void add(double) noexcept override {}
};

class DiscardingHistogram final : public MetricHistogram {
public:
  void observe(double) noexcept override {}
};

class DiscardingSink final : public MetricsSink {
public:
  Result<std::shared_ptr<MetricCounter>> counter(const MetricInfo&, const MetricLabels&) override {
    return std::shared_ptr<MetricCounter>(std::make_shared<DiscardingCounter>());
  }

  Result<std::shared_ptr<MetricGauge>> gauge(const MetricInfo&, const MetricLabels&) override {
    return std::shared_ptr<MetricGauge>(std::make_shared<DiscardingGauge>());
  }

  Result<std::shared_ptr<MetricHistogram>> histogram(const MetricInfo&, const MetricLabels&,
                                                     const std::vector<double>&) override {
    return std::shared_ptr<MetricHistogram>(std::make_shared<DiscardingHistogram>());
  }
};

}  // namespace

std::shared_ptr<MetricsSink> discarding_metrics_sink() {
  static const auto sink = std::make_shared<DiscardingSink>();
  return sink;
}

}  // namespace lognurse
