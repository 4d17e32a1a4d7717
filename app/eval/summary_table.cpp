#include "app/eval/summary_table.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

namespace trimvl::app::eval {
namespace {

std::string fixed(std::optional<double> v, int decimals) {
  return v && std::isfinite(*v) ? fmt::format("{:.{}f}", *v, decimals) : std::string("-");
}

std::string metric_cell(const MetricResult* m) {
  if (!m) return "-";
  return m->stderr_ ? fmt::format("{} ± {}", fixed(m->mean, 4), fixed(*m->stderr_, 4)) : fixed(m->mean, 4);
}

// Display columns of UTF-8 text (each code point one column: "±" is two bytes, one column).
size_t columns(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

std::string summary_table(const std::vector<TaskResult>& results) {
  std::vector<std::string> metrics;
  for (const TaskResult& r : results)
    for (const MetricResult& m : r.metrics)
      if (std::find(metrics.begin(), metrics.end(), m.name) == metrics.end()) metrics.push_back(m.name);

  std::vector<std::string> header = {"task", "policy", "budget", "n"};
  header.insert(header.end(), metrics.begin(), metrics.end());
  for (const char* h : {"peak KV MiB", "TTFT s", "tok/s"}) header.emplace_back(h);
  // Right-aligned: budget, n and the KV columns (numbers); metric cells line up on their left.
  std::vector<bool> right(header.size(), false);
  right[2] = right[3] = true;
  for (size_t c = header.size() - 3; c < header.size(); ++c) right[c] = true;

  std::vector<std::vector<std::string>> rows = {header};
  for (const TaskResult& r : results) {
    std::vector<std::string> row = {r.task, r.config.policy,
                                    r.config.budget ? fmt::format("{}", *r.config.budget) : "-",
                                    fmt::format("{}", r.n_effective)};
    for (const std::string& name : metrics) row.push_back(metric_cell(r.metric(name)));
    row.push_back(r.mean_peak_kv_bytes ? fixed(*r.mean_peak_kv_bytes / (1024.0 * 1024.0), 2) : std::string("-"));
    row.push_back(fixed(r.mean_ttft_s, 3));
    row.push_back(fixed(r.mean_tokens_per_s, 1));
    rows.push_back(std::move(row));
  }

  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], columns(row[c]));
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      const std::string pad(width[c] - columns(row[c]), ' ');
      line += right[c] ? pad + row[c] : row[c] + (c + 1 < row.size() ? pad : std::string());
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace trimvl::app::eval
