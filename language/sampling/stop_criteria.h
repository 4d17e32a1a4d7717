#pragma once
// When generation ends, and which generated text may be shown while it runs.
//
// Stops, checked after each generated token, as transformers 4.57.1's stopping criteria do:
//  - the token is one of the EOS ids (EosTokenCriteria; the id is part of the output ids);
//  - a stop string ends within the text of the latest token (StopStringCriteria: a string that
//    spans several tokens counts, one that lies wholly in earlier text has already stopped);
//  - max_new_tokens tokens have been generated, or the sequence (prompt + generated) reached
//    max_length (MaxLengthCriteria).
// HF matches stop strings on token strings, which may begin in the prompt; trimvl matches the
// decoded text of the generated tokens only.
//
// Shown text: step() returns the part of the decoded text that can no longer belong to a stop
// string, holding back a tail that could still grow into one; the stop string itself and whatever
// followed it in the same token are never returned, and neither is the text of an EOS token.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl {

struct StopConditions {
  std::vector<int32_t> eos_token_ids;
  std::vector<std::string> stop_strings;  // non-empty strings
  std::optional<int64_t> max_new_tokens;  // >= 1
  std::optional<int64_t> max_length;      // prompt + generated, >= 1

  void validate() const;  // Error(InvalidInput) naming the field
};

enum class StopReason { Eos, StopString, MaxNewTokens, MaxLength };
std::string_view stop_reason_name(StopReason reason);

struct StopStep {
  std::string text;                  // newly showable text
  std::optional<StopReason> reason;  // set when generation must end with this token
  std::string stop_string;           // the one matched, for StopReason::StopString
};

class StopCriteria {
 public:
  StopCriteria(StopConditions conditions, int64_t prompt_tokens);

  // One generated token and the text its decoding made final (StreamDecoder::step).
  StopStep step(int32_t token, std::string_view piece);
  // The held-back text once generation ended without a stop string, followed by `tail`
  // (StreamDecoder::finish()).
  std::string finish(std::string_view tail);

  int64_t generated() const { return generated_; }

 private:
  std::size_t held_back() const;  // length of pending_'s tail that may still start a stop string

  StopConditions conditions_;
  int64_t prompt_tokens_;
  int64_t generated_ = 0;
  std::string pending_;  // decoded, not yet shown
};

}  // namespace trimvl
