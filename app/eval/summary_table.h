#pragma once
// The table `trimvl eval` prints on stdout at the end: one row per (task, configuration), one
// column per metric ("mean ± stderr"), then n and the KV means.
//
//   task      policy    budget  n   exact_match      anls             peak KV MiB  TTFT s  tok/s
//   counting  full           -  20  0.8500 ± 0.0819  0.9100 ± 0.0500        12.50   0.210   48.5
//   counting  dbtrimkv      64  20  0.8000 ± 0.0918  -                       3.25   0.190   51.0
//
// Metric columns are the metrics' names in first-seen order; a row without one shows "-".
#include <string>
#include <vector>

#include "app/eval/task_result.h"

namespace trimvl::app::eval {

// Lines end in '\n'; columns are separated by two spaces, text left- and numbers right-aligned.
std::string summary_table(const std::vector<TaskResult>& results);

}  // namespace trimvl::app::eval
