#include "app/eval/text_metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include "app/eval/unicode_text.h"

namespace trimvl::app::eval {
namespace {

using text::decode;
using text::is_ascii_punct;
using text::is_word;

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

std::u32string drop_punct(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s)
    if (!is_ascii_punct(c)) out.push_back(c);
  return out;
}

// re.sub(r"\b(a|an|the)\b", " ", s): the alternatives are tried in that order at each word start.
std::u32string drop_articles(std::u32string_view s) {
  static constexpr std::array<std::u32string_view, 3> kArticles = {U"a", U"an", U"the"};
  std::u32string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (i == 0 || !is_word(s[i - 1])) {
      std::size_t len = 0;
      for (std::u32string_view w : kArticles) {
        const std::size_t end = i + w.size();
        if (s.substr(i).starts_with(w) && (end == s.size() || !is_word(s[end]))) {
          len = w.size();
          break;
        }
      }
      if (len > 0) {
        out.push_back(U' ');
        i += len;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// SQuAD's steps up to `level`: 0 lower-case + whitespace, 1 also punctuation, 2 also articles.
std::u32string answer_key(std::u32string_view s, int level) {
  std::u32string t = text::lower(s);
  if (level >= 1) t = drop_punct(t);
  if (level >= 2) t = drop_articles(t);
  return text::collapse_spaces(t);
}

std::size_t levenshtein(std::u32string_view a, std::u32string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  std::vector<std::size_t> row(a.size() + 1), next(a.size() + 1);
  for (std::size_t i = 0; i <= a.size(); ++i) row[i] = i;
  for (std::size_t j = 0; j < b.size(); ++j) {
    next[0] = j + 1;
    for (std::size_t i = 0; i < a.size(); ++i)
      next[i + 1] = a[i] == b[j] ? row[i] : 1 + std::min({row[i], row[i + 1], next[i]});
    std::swap(row, next);
  }
  return row[a.size()];
}

struct NumberAt {
  double value = 0;
  std::size_t end = 0;  // one past the last character read
};

// A digit-form number starting exactly at s[i] (a sign included), or nothing.
std::optional<NumberAt> digits_at(std::u32string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return k < s.size() ? s[k] : U'\0'; };
  std::string ascii;  // what from_chars reads: sign, digits, '.', exponent; no commas, no '+'
  std::size_t k = i;
  if (at(k) == U'-' || at(k) == U'+') {
    if (at(k) == U'-') ascii.push_back('-');
    ++k;
  }
  const std::size_t int_begin = k;
  while (is_digit(at(k))) ascii.push_back(static_cast<char>(s[k++]));
  const std::size_t int_digits = k - int_begin;
  if (int_digits >= 1 && int_digits <= 3) {  // thousands groups: ",ddd" not followed by a digit
    while (at(k) == U',' && is_digit(at(k + 1)) && is_digit(at(k + 2)) && is_digit(at(k + 3)) && !is_digit(at(k + 4))) {
      for (std::size_t d = 1; d <= 3; ++d) ascii.push_back(static_cast<char>(s[k + d]));
      k += 4;
    }
  }
  bool fraction = false;
  if (at(k) == U'.' && is_digit(at(k + 1))) {
    fraction = true;
    ascii.push_back('.');
    ++k;
    while (is_digit(at(k))) ascii.push_back(static_cast<char>(s[k++]));
  }
  if (int_digits == 0 && !fraction) return std::nullopt;
  if (at(k) == U'e' || at(k) == U'E') {
    std::size_t e = k + 1;
    if (at(e) == U'+' || at(e) == U'-') ++e;
    if (is_digit(at(e))) {
      ascii.push_back('e');
      if (at(k + 1) == U'-') ascii.push_back('-');
      while (is_digit(at(e))) ascii.push_back(static_cast<char>(s[e++]));
      k = e;
    }
  }
  if (at(k) == U'%') ++k;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(ascii.data(), ascii.data() + ascii.size(), value);
  // Out of range ("1e999") is no usable number; from_chars has read the whole text otherwise.
  if (ec != std::errc() || ptr != ascii.data() + ascii.size() || !std::isfinite(value)) return std::nullopt;
  return NumberAt{value, k};
}

std::optional<double> number_word(std::u32string_view word) {
  static constexpr std::array<std::u32string_view, 21> kWords = {
      U"zero", U"one", U"two", U"three", U"four", U"five", U"six", U"seven", U"eight", U"nine", U"ten",
      U"eleven", U"twelve", U"thirteen", U"fourteen", U"fifteen", U"sixteen", U"seventeen", U"eighteen",
      U"nineteen", U"twenty"};
  const std::u32string lowered = text::lower(word);
  for (std::size_t n = 0; n < kWords.size(); ++n)
    if (lowered == kWords[n]) return static_cast<double>(n);
  return std::nullopt;
}

bool starts_digits(std::u32string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return k < s.size() ? s[k] : U'\0'; };
  std::size_t k = i;
  if (at(k) == U'-' || at(k) == U'+') ++k;
  return is_digit(at(k)) || (at(k) == U'.' && is_digit(at(k + 1)));
}

std::u32string trimmed(std::u32string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && text::is_space(s[b])) ++b;
  while (e > b && text::is_space(s[e - 1])) --e;
  return std::u32string(s.substr(b, e - b));
}

}  // namespace

std::string normalize_answer(std::string_view t) { return text::encode(answer_key(decode(t), 2)); }

double exact_match(std::string_view response, std::span<const std::string> answers) {
  const std::u32string r = decode(response);
  for (const std::string& answer : answers) {
    const std::u32string a = decode(answer);
    int level = 2;
    while (level > 0 && answer_key(a, level).empty()) --level;
    if (answer_key(a, level) == answer_key(r, level)) return 1.0;
  }
  return 0.0;
}

double anls(std::string_view response, std::span<const std::string> answers, double threshold) {
  if (answers.empty()) return 0.0;
  const std::u32string pred = decode(response);
  const std::u32string det = text::collapse_spaces(text::lower(pred));
  const std::size_t pred_len = text::upper_length(pred);
  double smallest = std::numeric_limits<double>::infinity();
  for (const std::string& answer : answers) {
    const std::u32string a = decode(answer);
    const std::u32string gt = text::collapse_spaces(text::lower(a));
    const std::size_t length = std::max(text::upper_length(a), pred_len);
    const double value = length == 0 ? 0.0 : static_cast<double>(levenshtein(gt, det)) / static_cast<double>(length);
    smallest = std::min(smallest, value);
  }
  // Full case mapping can lengthen the normalised text past the raw length ("İ" lower-cases to two
  // code points), so the ratio may exceed 1; the score stays in [0, 1].
  const double score = std::clamp(1.0 - smallest, 0.0, 1.0);
  return score < threshold ? 0.0 : score;
}

std::optional<double> parse_number(std::string_view t) {
  const std::u32string s = trimmed(decode(t));
  if (s.empty()) return std::nullopt;
  if (starts_digits(s, 0)) {
    const auto n = digits_at(s, 0);
    if (n && n->end == s.size()) return n->value;
    return std::nullopt;
  }
  return number_word(s);
}

std::optional<double> first_number(std::string_view t) {
  const std::u32string s = decode(t);
  std::size_t i = 0;
  while (i < s.size()) {
    const bool word_before = i > 0 && is_word(s[i - 1]);
    if (!word_before && starts_digits(s, i)) {
      if (auto n = digits_at(s, i)) return n->value;
    }
    if (is_word(s[i])) {
      // A run of word characters (with '.'/',' between digits, as in "v1.2"): a number word, or a
      // word that holds no number.
      std::size_t end = i;
      while (end < s.size() &&
             (is_word(s[end]) || ((s[end] == U'.' || s[end] == U',') && end + 1 < s.size() && is_digit(s[end + 1]) &&
                                  is_digit(s[end - 1]))))
        ++end;
      const bool hyphenated = (end + 1 < s.size() && s[end] == U'-' && is_word(s[end + 1])) ||
                              (i >= 2 && s[i - 1] == U'-' && is_word(s[i - 2]));
      if (!word_before && !hyphenated) {
        if (auto n = number_word(std::u32string_view(s).substr(i, end - i))) return n;
      }
      i = end;
      continue;
    }
    ++i;
  }
  return std::nullopt;
}

double relaxed_numeric(std::string_view response, std::span<const std::string> answers, double max_relative_change) {
  const std::optional<double> r = first_number(response);
  if (!r) return 0.0;
  for (const std::string& answer : answers) {
    const std::optional<double> t = parse_number(answer);
    if (!t) continue;
    const bool close = *t == 0 ? *r == 0 : std::abs(*r - *t) / std::abs(*t) <= max_relative_change;
    if (close) return 1.0;
  }
  return 0.0;
}

}  // namespace trimvl::app::eval
