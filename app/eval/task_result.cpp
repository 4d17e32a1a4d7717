#include "app/eval/task_result.h"

#include <fmt/format.h>

#include "kernels/runtime/error.h"

namespace trimvl::app::eval {

std::string KvConfig::label() const { return budget ? fmt::format("{}-M{}", policy, *budget) : policy; }

std::string result_key(std::string_view task, const KvConfig& config) {
  // The key names files (<date>_samples_<key>.jsonl) and is split back at the '@'.
  TRIMVL_CHECK_ARG(!task.empty(), "a task name is empty");
  for (const char c : task) {
    const bool control = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    TRIMVL_CHECK_ARG(!control, "task name '{}' cannot name a results file: it contains a control character", task);
    TRIMVL_CHECK_ARG(c != '/' && c != '\\' && c != '@', "task name '{}' cannot name a results file: it contains '{}'",
                     task, c);
  }
  TRIMVL_CHECK_ARG(task != "." && task != "..", "task name '{}' cannot name a results file", task);
  return fmt::format("{}@{}", task, config.label());
}

const MetricResult* TaskResult::metric(std::string_view name) const {
  for (const MetricResult& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace trimvl::app::eval
