#include "app/eval/aggregate.h"

#include <cmath>

#include "kernels/runtime/error.h"

namespace trimvl::app::eval {

MetricSummary summarize(std::span<const double> values) {
  TRIMVL_CHECK_ARG(!values.empty(), "summarize: no values");
  const auto n = static_cast<double>(values.size());
  double sum = 0;
  for (double v : values) sum += v;
  MetricSummary out{static_cast<int64_t>(values.size()), sum / n, std::nullopt};
  if (values.size() > 1) {
    // Two passes, as lmms-eval's sample_stddev: the mean first, then the squared deviations.
    double squares = 0;
    for (double v : values) squares += (v - out.mean) * (v - out.mean);
    out.std_error = std::sqrt(squares / (n - 1)) / std::sqrt(n);
  }
  return out;
}

void TaskAggregator::add(const std::string& task, const std::map<std::string, double>& metrics) {
  auto& by_metric = values_[task];
  for (const auto& [metric, value] : metrics) by_metric[metric].push_back(value);
}

std::map<std::string, std::map<std::string, MetricSummary>> TaskAggregator::summaries() const {
  std::map<std::string, std::map<std::string, MetricSummary>> out;
  for (const auto& [task, by_metric] : values_)
    for (const auto& [metric, values] : by_metric) out[task][metric] = summarize(values);
  return out;
}

}  // namespace trimvl::app::eval
