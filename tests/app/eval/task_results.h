#pragma once
// Building TaskResults in tests without aggregate initialisation (the KV means stay unset unless
// a test sets them).
#include <string>
#include <utility>
#include <vector>

#include "app/eval/task_result.h"

namespace trimvl::app::eval {

inline TaskResult make_result(std::string task, KvConfig config, std::vector<MetricResult> metrics, int64_t original,
                              int64_t effective) {
  TaskResult r;
  r.task = std::move(task);
  r.config = std::move(config);
  r.metrics = std::move(metrics);
  r.n_original = original;
  r.n_effective = effective;
  return r;
}

}  // namespace trimvl::app::eval
