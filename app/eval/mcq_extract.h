#pragma once
// Which option a multiple-choice answer names. lmms-eval's MMMU parser (tasks/_task_utils/
// mmmu_mcq_utils.py `parse_mmmu_multi_choice_response`, from MMMU's eval_utils.py) looks for "(B)",
// then "B " (which also matches the article in "A cat is shown"), then "B.", then, in answers of more
// than five words, a choice's text, and guesses at random when nothing matches. Here the signals
// are tried strongest first, the first tier that finds anything decides, and nothing found — or a
// tier that names two different letters — is "no answer" (nullopt) rather than a guess.
//
// Letters are A.. up to n_choices (at most 26); a letter out of range is never a candidate. A
// letter "stands alone" when neither neighbour is a word character (Python's \w: "(B)", "B.", "**B**"
// stand alone, the B of "Bird" does not). The *article rule*: an "A" or "I" followed by a space and
// a lower-case word reads as the article or pronoun ("A cat is shown", "I think"), not a letter —
// except before and, or, is, was, seems, because (the words that follow an option letter, "A is
// wrong"). Tiers:
//   1. The whole answer is one letter, ignoring whitespace, brackets, '*', '_', '.', ':' and quotes
//      around it: "b", "(D)", "**B**", "C.".
//   2. The whole answer is one choice's text (case, surrounding punctuation and spacing ignored):
//      "cat" -> A for choices {cat, dog}.
//   3. It starts with an option label: "B) cat", "b. dog because ...", "(C) 5", "A: red", also
//      after leading '*'; not when "and" or "or" follows ("(A) and (C) both fit").
//   4. An answer statement: the word "answer", then separators (: * _ - = quotes) and the words is,
//      would, should, will, must, be, likely, probably, option, choice, letter, then an optional '('
//      or '[', then a standalone letter: "The answer is (B).", "Answer: C", "**Final answer:** D".
//      Lower-case letters count here too, under the article rule ("the answer is a cat" is no
//      letter). The last such statement wins (models reason first and conclude last).
//   5. A bracketed or bold letter anywhere, any case: "(B)", "[c]", "**D**".
//   6. A standalone upper-case letter anywhere, under the article rule, skipping letters inside a
//      mention of a choice's text ("Vitamin C" when that is a choice): "I think C is right".
//   7. Choices given: the choice texts mentioned as whole words; a mention inside a longer mentioned
//      choice ("cat" in "black cat") does not count. One choice left -> it.
// Tiers 5-7 need a single distinct letter; "Either A or B" is no answer.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace trimvl::app::eval {

// The option `response` names, as 'A'..'Z', or nullopt. `choices` (optional: empty, or exactly
// n_choices texts) enables tiers 2 and 7 and the choice-text exception of tier 6. Throws
// Error(InvalidInput) when n_choices > 26 or choices has another size.
std::optional<char> extract_choice(std::string_view response, std::size_t n_choices,
                                   std::span<const std::string> choices = {});

// Likelihood multiple choice: the index of the largest total log-probability (ties -> the first;
// NaN never wins unless all are NaN, then 0). Throws Error(InvalidInput) on an empty span.
std::size_t pick_by_loglik(std::span<const double> total_logprobs);

}  // namespace trimvl::app::eval
