#pragma once
// Which metrics a sample is scored with and their values for one response: what `trimvl eval`
// logs per sample (lmms-eval's per-metric values and filtered_resps) and aggregates per task
// (aggregate.h). Names follow lmms-eval's registry (api/metrics.py):
//   multiple choice   exact_match: 1 when the letter extract_choice() finds is an answer letter.
//   free-form         exact_match (normalised, text_metrics.h), anls, and, when every answer is a
//                     number (parse_number), relaxed_numeric (ours; ChartQA's variant of it is
//                     lmms-eval's relaxed_overall).
// Likelihood multiple choice scores the option picked by pick_by_loglik() (mcq_extract.h) as the
// response "A", "B", ...: score_response(sample, std::string(1, char('A' + index))).
#include <map>
#include <string>
#include <string_view>

#include "app/eval/dataset.h"

namespace trimvl::app::eval {

inline constexpr const char* kExactMatch = "exact_match";
inline constexpr const char* kAnls = "anls";
inline constexpr const char* kRelaxedNumeric = "relaxed_numeric";

struct SampleScore {
  std::map<std::string, double> metrics;  // metric name -> value in [0, 1]
  // lmms-eval's filtered_resps entry: the extracted letter ("" when none) for multiple choice, else
  // the response as exact_match compares it (normalize_answer).
  std::string filtered_response;
};

// Scores `response` (the model's whole answer). A reasoning model's "<think>...</think>" is dropped
// first: only the text after the last "</think>" is scored, as lmms-eval's Qwen3-VL model strips it.
SampleScore score_response(const Sample& sample, std::string_view response);

}  // namespace trimvl::app::eval
