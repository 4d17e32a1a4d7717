#include "app/eval/task_metrics.h"

#include <algorithm>

#include "app/eval/mcq_extract.h"
#include "app/eval/text_metrics.h"

namespace trimvl::app::eval {
namespace {

std::string_view after_thinking(std::string_view response) {
  constexpr std::string_view kEnd = "</think>";
  const auto end = response.rfind(kEnd);
  return end == std::string_view::npos ? response : response.substr(end + kEnd.size());
}

}  // namespace

SampleScore score_response(const Sample& sample, std::string_view response) {
  const std::string_view answer = after_thinking(response);
  SampleScore out;
  if (sample.is_mcq()) {
    const std::optional<char> letter = extract_choice(answer, sample.choices.size(), sample.choices);
    out.filtered_response = letter ? std::string(1, *letter) : "";
    const bool correct = letter && std::find(sample.answers.begin(), sample.answers.end(), out.filtered_response) !=
                                       sample.answers.end();
    out.metrics[kExactMatch] = correct ? 1.0 : 0.0;
    return out;
  }
  out.filtered_response = normalize_answer(answer);
  out.metrics[kExactMatch] = exact_match(answer, sample.answers);
  out.metrics[kAnls] = anls(answer, sample.answers);
  const bool numeric = std::all_of(sample.answers.begin(), sample.answers.end(),
                                   [](const std::string& a) { return parse_number(a).has_value(); });
  if (numeric) out.metrics[kRelaxedNumeric] = relaxed_numeric(answer, sample.answers);
  return out;
}

}  // namespace trimvl::app::eval
