#include "language/sampling/stop_criteria.h"

#include <algorithm>

#include "kernels/runtime/error.h"

namespace trimvl {

void StopConditions::validate() const {
  for (const std::string& s : stop_strings) TRIMVL_CHECK_ARG(!s.empty(), "stop strings must not be empty");
  for (const int32_t id : eos_token_ids) TRIMVL_CHECK_ARG(id >= 0, "eos_token_id {} is not a token id", id);
  if (max_new_tokens) TRIMVL_CHECK_ARG(*max_new_tokens >= 1, "max_new_tokens must be >= 1, got {}", *max_new_tokens);
  if (max_length) TRIMVL_CHECK_ARG(*max_length >= 1, "max_length must be >= 1, got {}", *max_length);
}

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::Eos: return "eos";
    case StopReason::StopString: return "stop string";
    case StopReason::MaxNewTokens: return "max new tokens";
    case StopReason::MaxLength: return "max length";
  }
  return "?";
}

StopCriteria::StopCriteria(StopConditions conditions, int64_t prompt_tokens)
    : conditions_(std::move(conditions)), prompt_tokens_(prompt_tokens) {
  conditions_.validate();
  TRIMVL_CHECK_ARG(prompt_tokens >= 0, "a prompt of {} tokens", prompt_tokens);
}

std::size_t StopCriteria::held_back() const {
  // The longest suffix of pending_ that is a proper prefix of a stop string: the earliest place
  // a stop string completed by later tokens could start.
  std::size_t longest = 0;
  for (const std::string& s : conditions_.stop_strings)
    for (std::size_t n = std::min(s.size() - 1, pending_.size()); n > longest; --n)
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        longest = n;
        break;
      }
  return longest;
}

StopStep StopCriteria::step(int32_t token, std::string_view piece) {
  ++generated_;
  StopStep out;
  const auto& eos = conditions_.eos_token_ids;
  const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end();
  if (!is_eos) pending_ += piece;

  // Every earlier occurrence was found when it completed, so any match now ends in `piece`;
  // the earliest one decides what may be shown.
  std::size_t match_at = std::string::npos;
  for (const std::string& s : conditions_.stop_strings) {
    const std::size_t at = pending_.find(s);
    if (at < match_at) {
      match_at = at;
      out.stop_string = s;
    }
  }
  if (match_at != std::string::npos) {
    out.text = pending_.substr(0, match_at);
    out.reason = StopReason::StopString;
    pending_.clear();
    return out;
  }
  if (is_eos) out.reason = StopReason::Eos;
  else if (conditions_.max_new_tokens && generated_ >= *conditions_.max_new_tokens) out.reason = StopReason::MaxNewTokens;
  else if (conditions_.max_length && prompt_tokens_ + generated_ >= *conditions_.max_length) out.reason = StopReason::MaxLength;

  const std::size_t keep = out.reason ? 0 : held_back();
  out.text = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StopCriteria::finish(std::string_view tail) {
  std::string out = std::move(pending_);
  pending_.clear();
  out += tail;
  return out;
}

}  // namespace trimvl
