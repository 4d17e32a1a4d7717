#pragma once
// <date>_summary.csv: one row per (task, policy, budget, metric), for spreadsheets and pandas:
//
//   task,policy,budget,metric,mean,stderr,n,mean_peak_kv_bytes,mean_ttft_s,mean_tokens_per_s
//   counting,dbtrimkv,64,exact_match,0.85,0.0819,20,1048576,0.21,48.5
//
// RFC 4180: CRLF line ends, a field holding a comma, quote, CR or LF quoted with its quotes doubled.
// An empty budget is a policy without one (full); an empty stderr one that cannot be computed; an
// empty mean a NaN. Numbers are written shortest-exact (they read back to the same double).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "app/eval/task_result.h"

namespace trimvl::app::eval {

// One field, quoted when RFC 4180 needs it.
std::string csv_field(std::string_view value);
std::string summary_csv(const std::vector<TaskResult>& results);
// Written atomically.
void write_summary_csv(const std::filesystem::path& path, const std::vector<TaskResult>& results);

}  // namespace trimvl::app::eval
