#pragma once
// What the model is asked for a sample: its messages, with a multiple-choice sample's options and
// instruction added to the question the way lmms-eval's MMMU task writes them (tasks/mmmu/utils.py
// `construct_prompt` with mmmu_val.yaml's default multiple_choice_prompt, lmms-eval 75571cf):
//
//   <question>\nA. cat\nB. dog\n\nAnswer with the option's letter from the given choices directly.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "app/engine.h"
#include "app/eval/dataset.h"

namespace trimvl::app::eval {

inline constexpr std::string_view kMcqInstruction = "Answer with the option's letter from the given choices directly.";

// The question followed by the lettered options and kMcqInstruction, as above.
std::string mcq_prompt(std::string_view question, std::span<const std::string> choices);

// The sample's messages as the model gets them: unchanged for a free-form sample; for MCQ, the last
// text part of the last (user) message becomes mcq_prompt(that text, choices), or, when that message
// has no text, mcq_prompt("", choices) minus its leading newline is appended as a text part.
std::vector<Message> prompt_messages(const Sample& sample);

}  // namespace trimvl::app::eval
