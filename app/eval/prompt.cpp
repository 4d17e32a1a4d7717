#include "app/eval/prompt.h"

#include <fmt/format.h>

namespace trimvl::app::eval {

std::string mcq_prompt(std::string_view question, std::span<const std::string> choices) {
  // MMMU's parse_options joins "A. option" lines with "\n"; construct_prompt then writes
  // f"{question}\n{options}\n\n{mc_prompt}".
  std::string options;
  for (std::size_t i = 0; i < choices.size(); ++i)
    options += fmt::format("{}{}. {}", i == 0 ? "" : "\n", static_cast<char>('A' + i), choices[i]);
  return fmt::format("{}\n{}\n\n{}", question, options, kMcqInstruction);
}

std::vector<Message> prompt_messages(const Sample& sample) {
  std::vector<Message> messages = sample.messages;
  if (!sample.is_mcq() || messages.empty()) return messages;
  std::vector<Part>& parts = messages.back().parts;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (it->kind != Part::Kind::Text) continue;
    it->text = mcq_prompt(it->text, sample.choices);
    return messages;
  }
  parts.push_back(Part::of_text(mcq_prompt("", sample.choices).substr(1)));
  return messages;
}

}  // namespace trimvl::app::eval
