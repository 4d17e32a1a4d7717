#pragma once
// PCRE2 behind the interface the tokenizer needs: all matches of a pattern in a subject, with
// the semantics of Oniguruma's find_iter (what HF tokenizers runs). Compiled with UTF and UCP so
// \s, \p{L}, \p{N} and (?i) are Unicode-aware, after onig_compatible() has aligned the
// character sets that differ between the engines, and JIT-compiled where the platform supports
// it. Thread-safe: the compiled pattern is immutable; scratch space is per thread.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "language/tokenizer/config_node.h"

namespace trimvl::tok {

class Regex {
 public:
  enum class Syntax { Regex, Literal };

  // Throws trimvl::Error(InvalidInput) naming the pattern, the offset and PCRE2's message.
  explicit Regex(std::string pattern, Syntax syntax = Syntax::Regex);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(start, end) for each match in `subject` (valid UTF-8), left to right. As in
  // Oniguruma, an empty match right where the previous match ended is skipped (the search moves
  // on by one character) and an empty subject has no matches.
  void for_each_match(std::string_view subject,
                      const std::function<void(std::size_t, std::size_t)>& on_match) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8, kept out of this header
};

// A tokenizer.json pattern: {"String": literal} or {"Regex": pattern}. Errors name the file and
// the location of the pattern.
std::unique_ptr<Regex> regex_from_config(const ConfigNode& node);

}  // namespace trimvl::tok
