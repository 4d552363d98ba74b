#include "lognurse/registry/guarded.hpp"

#include <exception>
#include <string>

namespace lognurse::registry {

namespace {

template <typename Call>
auto guarded_call(const std::string& backend, const char* operation, Call&& call)
    -> decltype(call()) {
  try {
    return call();
  } catch (const std::exception& e) {
    return internal_error("plugin.exception", "backend " + backend + " threw during " +
                                                  operation + ": " + e.what());
  } catch (...) {
    return internal_error("plugin.exception",
                          "backend " + backend + " threw a non-standard exception during " +
                              operation);
  }
}

class GuardedLogAggregation final : public LogAggregationProtocol {
public:
  explicit GuardedLogAggregation(std::shared_ptr<LogAggregationProtocol> inner)
      : inner_(std::move(inner)), name_(inner_->backend_name()) {}

  std::string backend_name() const override { return name_; }

  Status connect() override {
    return guarded_call(name_, "connect", [&] { return inner_->connect(); });
  }

  Health health() override {
    try {
      return inner_->health();
    } catch (const std::exception& e) {
      return Health{false, name_, std::string("health check threw: ") + e.what(), 0};
    } catch (...) {
      return Health{false, name_, "health check threw a non-standard exception", 0};
    }
  }

  Result<PushResult> push(const PushRequest& request) override {
    return guarded_call(name_, "push", [&] { return inner_->push(request); });
  }

  Result<QueryResult> query(const LogQuery& query) override {
    return guarded_call(name_, "query", [&] { return inner_->query(query); });
  }

  Result<std::vector<std::string>> labels(const std::string& tenant,
                                          const TimeRange& range) override {
    return guarded_call(name_, "labels", [&] { return inner_->labels(tenant, range); });
  }

  Result<std::vector<std::string>> label_values(const std::string& tenant,
                                                const std::string& name,
                                                const TimeRange& range) override {
    return guarded_call(name_, "label_values",
                        [&] { return inner_->label_values(tenant, name, range); });
  }

  Result<SearchResult> search(const SearchRequest& request) override {
    return guarded_call(name_, "search", [&] { return inner_->search(request); });
  }

  Result<LogMetrics> metrics(const std::string& tenant, const TimeRange& range) override {
    return guarded_call(name_, "metrics", [&] { return inner_->metrics(tenant, range); });
  }

  Result<std::vector<Labels>> series(const std::string& tenant,
                                     const std::vector<std::string>& selectors,
                                     const TimeRange& range) override {
    return guarded_call(name_, "series", [&] { return inner_->series(tenant, selectors, range); });
  }

  Result<IndexStats> stats(const std::string& tenant, const std::string& selector,
                           const TimeRange& range) override {
    return guarded_call(name_, "stats", [&] { return inner_->stats(tenant, selector, range); });
  }

  Result<QueryResult> volume(const VolumeRequest& request) override {
    return guarded_call(name_, "volume", [&] { return inner_->volume(request); });
  }

  Result<std::vector<LogPattern>> patterns(const std::string& tenant, const std::string& selector,
                                           const TimeRange& range, std::int64_t step_ns) override {
    return guarded_call(name_, "patterns",
                        [&] { return inner_->patterns(tenant, selector, range, step_ns); });
  }

  Result<std::vector<DetectedField>> detected_fields(const std::string& tenant,
                                                     const std::string& query,
                                                     const TimeRange& range,
                                                     std::size_t line_limit) override {
    return guarded_call(name_, "detected_fields",
                        [&] { return inner_->detected_fields(tenant, query, range, line_limit); });
  }

private:
  std::shared_ptr<LogAggregationProtocol> inner_;
  std::string name_;
};

}  // namespace

std::shared_ptr<LogAggregationProtocol> guard(std::shared_ptr<LogAggregationProtocol> inner) {
  if (!inner) return nullptr;
  return std::make_shared<GuardedLogAggregation>(std::move(inner));
}

}  // namespace lognurse::registry
