#include "app/eval/summary_csv.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "kernels/runtime/atomic_file.h"

namespace trimvl::app::eval {
namespace {

std::string number(std::optional<double> v) { return v && std::isfinite(*v) ? fmt::format("{}", *v) : std::string(); }

void row(std::string& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += csv_field(fields[i]);
  }
  out += "\r\n";
}

}  // namespace

std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string summary_csv(const std::vector<TaskResult>& results) {
  std::string out;
  row(out, {"task", "policy", "budget", "metric", "mean", "stderr", "n", "mean_peak_kv_bytes", "mean_ttft_s",
            "mean_tokens_per_s"});
  for (const TaskResult& r : results)
    for (const MetricResult& m : r.metrics)
      row(out, {r.task, r.config.policy, r.config.budget ? fmt::format("{}", *r.config.budget) : std::string(), m.name,
                number(m.mean), number(m.stderr_), fmt::format("{}", r.n_effective), number(r.mean_peak_kv_bytes),
                number(r.mean_ttft_s), number(r.mean_tokens_per_s)});
  return out;
}

void write_summary_csv(const std::filesystem::path& path, const std::vector<TaskResult>& results) {
  write_file_atomically(path, summary_csv(results));
}

}  // namespace trimvl::app::eval
