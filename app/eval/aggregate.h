#pragma once
// Per-task means of per-sample metric values and their standard errors, computed as lmms-eval's
// "mean" aggregation does: mean = sum / n; standard error = mean_stderr (api/metrics.py), the sample
// standard deviation (divisor n - 1) over sqrt(n). lmms-eval reports the error of a single value as
// the string "N/A" (evaluator_utils.py, `len(items) > 1`); here it is std::nullopt, which results
// files write as "N/A".
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace trimvl::app::eval {

struct MetricSummary {
  int64_t n = 0;
  double mean = 0;
  std::optional<double> std_error;  // nullopt when n == 1
};

// Throws Error(InvalidInput) on no values.
MetricSummary summarize(std::span<const double> values);

// Collects one configuration's per-sample metrics (task_metrics.h) and summarises them per task.
class TaskAggregator {
 public:
  void add(const std::string& task, const std::map<std::string, double>& metrics);
  // task -> metric -> summary, both sorted by name. A metric's n counts the samples that had it.
  std::map<std::string, std::map<std::string, MetricSummary>> summaries() const;

 private:
  std::map<std::string, std::map<std::string, std::vector<double>>> values_;
};

}  // namespace trimvl::app::eval
