#pragma once
// Scores of a free-form answer against its reference answers, each in [0, 1] and, over several
// references, the best one. They reproduce the lmms-eval functions named below (EvolvingLMMs-Lab/
// lmms-eval at 75571cf), so a trimvl result can be set beside an lmms-eval one. Text is UTF-8;
// case mapping, whitespace and word characters follow Python's str/re (unicode_text.h).
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace trimvl::app::eval {

// SQuAD's normalize_answer, as lmms-eval copies it (tasks/mmsearch/score/f1_score.py): lower-case,
// drop ASCII punctuation (Python's string.punctuation, '_' included), replace the whole words
// "a", "an" and "the" by a space, then collapse whitespace (" ".join(s.split())).
std::string normalize_answer(std::string_view text);

// 1 when normalize_answer(response) equals normalize_answer(answer) for some answer, else 0.
// One deviation from SQuAD: an answer that normalises to nothing (only articles or punctuation, e.g.
// "A" or "?") is compared lower-cased and whitespace-collapsed instead, because under SQuAD's rule
// an empty response would match it.
double exact_match(std::string_view response, std::span<const std::string> answers);

// ANLS as lmms-eval's api/metrics.py `anls` computes it (from Qwen-VL's infographicsvqa_eval.py):
// per answer, the Levenshtein distance between the lower-cased, whitespace-collapsed answer and
// response, divided by max(len(answer.upper()), len(response.upper())) of the *raw* strings
// (lengths in code points); the score is 1 - the smallest such ratio, and 0 when below `threshold`
// (a score of exactly `threshold` stands). No answers: 0.
double anls(std::string_view response, std::span<const std::string> answers, double threshold = 0.5);

// The number a whole text states, e.g. "1,234", "-3.5", "3.5%", "2e3", "seven": digits with an
// optional sign, comma groups of three ("1,234,567"), fraction and exponent, an optional trailing
// '%' (ignored: "35%" is 35), or one of the words zero..twenty (any case). Surrounding whitespace is
// allowed; anything else makes it not a number.
std::optional<double> parse_number(std::string_view text);

// The first number stated anywhere in `text`, in parse_number's forms, e.g. 3 in "There are three
// cats and 2 dogs". A number must not continue a word ("H2O", "mp3" hold none; "3rd" holds 3); a sign
// counts only where it does not follow a word ("5-6" is 5; "COVID-19" is 19); number words must be
// whole words and not part of a hyphenated one ("twenty-one" holds no number word).
std::optional<double> first_number(std::string_view text);

// 1 when first_number(response) is within `max_relative_change` of some answer that parse_number
// reads: |r - t| / |t| <= max_relative_change, or r == t when t is 0. The tolerance default is
// ChartQA's relaxed accuracy (lmms-eval tasks/chartqa/utils.py `relaxed_correctness`, 5%); unlike
// it, a non-numeric answer never matches here (exact_match covers text) and '%' does not divide by
// 100 ("35%" and "35" agree).
double relaxed_numeric(std::string_view response, std::span<const std::string> answers,
                       double max_relative_change = 0.05);

}  // namespace trimvl::app::eval
