#include "app/eval/mcq_extract.h"

#include <cmath>
#include <set>
#include <vector>

#include <unicode/uchar.h>

#include "app/eval/unicode_text.h"
#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

using text::is_ascii_punct;
using text::is_space;
using text::is_word;

char32_t closing(char32_t open) { return open == U'(' ? U')' : open == U'[' ? U']' : U'\0'; }

// Lower-cased one code point at a time (simple case mapping keeps positions), whitespace runs
// collapsed to one space, with the original position of every character kept, so a choice's text
// can be found in the answer and the letters inside that mention located.
struct Folded {
  std::u32string text;
  std::vector<std::size_t> origin;
};

Folded fold(std::u32string_view s) {
  Folded f;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_space(s[i])) {
      if (!f.text.empty() && f.text.back() != U' ') {
        f.text.push_back(U' ');
        f.origin.push_back(i);
      }
      continue;
    }
    f.text.push_back(static_cast<char32_t>(u_tolower(static_cast<UChar32>(s[i]))));
    f.origin.push_back(i);
  }
  if (!f.text.empty() && f.text.back() == U' ') {
    f.text.pop_back();
    f.origin.pop_back();
  }
  return f;
}

// A choice text or a whole answer as compared in tiers 2 and 7: folded, without surrounding
// whitespace and ASCII punctuation ("Cat." and " cat" are both "cat").
std::u32string choice_key(std::u32string_view s) {
  std::u32string t = fold(s).text;
  std::size_t b = 0, e = t.size();
  while (b < e && (t[b] == U' ' || is_ascii_punct(t[b]))) ++b;
  while (e > b && (t[e - 1] == U' ' || is_ascii_punct(t[e - 1]))) --e;
  return t.substr(b, e - b);
}

struct Mention {
  std::size_t choice, begin, end;  // [begin, end) in the folded answer
};

class Extractor {
 public:
  Extractor(std::string_view response, std::size_t n, std::span<const std::string> choices)
      : s_(text::decode(response)), n_(n) {
    for (const std::string& c : choices) keys_.push_back(choice_key(text::decode(c)));
    folded_ = fold(s_);
    find_mentions();
  }

  std::optional<char> run() {
    if (auto l = whole_letter()) return l;
    if (auto l = whole_choice()) return l;
    if (auto l = leading_label()) return l;
    if (auto l = answer_statement()) return l;
    if (auto found = marked_letters(); !found.empty()) return single(found);
    if (auto found = standalone_letters(); !found.empty()) return single(found);
    return single(mentioned_choices());
  }

 private:
  char32_t at(std::size_t k) const { return k < s_.size() ? s_[k] : U'\0'; }
  bool word_at(std::size_t k) const { return k < s_.size() && is_word(s_[k]); }
  bool standalone(std::size_t k) const { return (k == 0 || !is_word(s_[k - 1])) && !word_at(k + 1); }

  // The option letter at s[k] (upper-cased), if it is one in range.
  std::optional<char> letter(std::size_t k, bool lower_ok) const {
    const char32_t c = at(k);
    char32_t up = 0;
    if (c >= U'A' && c <= U'Z') up = c;
    else if (lower_ok && c >= U'a' && c <= U'z') up = c - U'a' + U'A';
    else return std::nullopt;
    if (static_cast<std::size_t>(up - U'A') >= n_) return std::nullopt;
    return static_cast<char>(up);
  }

  std::u32string word_from(std::size_t k) const {
    std::size_t e = k;
    while (word_at(e)) ++e;
    std::u32string w = s_.substr(k, e - k);
    for (char32_t& c : w) c = static_cast<char32_t>(u_tolower(static_cast<UChar32>(c)));
    return w;
  }

  // The article rule (see the header).
  bool article(std::size_t k) const {
    static const std::set<std::u32string> kAfterLetter = {U"and", U"or", U"is", U"was", U"seems", U"because"};
    const char32_t c = at(k);
    if (c != U'A' && c != U'a' && c != U'I' && c != U'i') return false;
    if (at(k + 1) != U' ' || !text::is_lower(at(k + 2))) return false;
    if (c == U'I' || c == U'i') return true;
    return !kAfterLetter.contains(word_from(k + 2));
  }

  // Tier 1.
  std::optional<char> whole_letter() const {
    static constexpr std::u32string_view kWrap = U"*_()[].:'\"`";
    std::size_t b = 0, e = s_.size();
    while (b < e && (is_space(s_[b]) || kWrap.find(s_[b]) != std::u32string_view::npos)) ++b;
    while (e > b && (is_space(s_[e - 1]) || kWrap.find(s_[e - 1]) != std::u32string_view::npos)) --e;
    return e == b + 1 ? letter(b, true) : std::nullopt;
  }

  // Tier 2.
  std::optional<char> whole_choice() const {
    const std::u32string key = choice_key(s_);
    std::optional<char> found;
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i].empty() || keys_[i] != key) continue;
      if (found) return std::nullopt;  // two choices read the same
      found = static_cast<char>('A' + i);
    }
    return found;
  }

  // Tier 3.
  std::optional<char> leading_label() const {
    std::size_t k = 0;
    while (k < s_.size() && (is_space(s_[k]) || s_[k] == U'*')) ++k;
    std::size_t next = k + 2;  // just past the label
    std::size_t at_letter = k;
    if (const char32_t close = closing(at(k)); close != U'\0') {
      if (at(k + 2) != close) return std::nullopt;
      at_letter = k + 1;
      next = k + 3;
    } else {
      const char32_t after = at(k + 1);
      if (after != U'.' && after != U')' && after != U':') return std::nullopt;
      if (next < s_.size() && !is_space(s_[next]) && s_[next] != U'*') return std::nullopt;
    }
    // "(A) and (C) both fit" lists options rather than labelling an answer.
    while (next < s_.size() && is_space(s_[next])) ++next;
    if (const std::u32string w = word_from(next); w == U"and" || w == U"or") return std::nullopt;
    return letter(at_letter, true);
  }

  bool keyword_at(std::size_t k, std::u32string_view word) const {
    if (k + word.size() > s_.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
      if (static_cast<char32_t>(u_tolower(static_cast<UChar32>(s_[k + i]))) != word[i]) return false;
    return (k == 0 || !is_word(s_[k - 1])) && !word_at(k + word.size());
  }

  // Tier 4.
  std::optional<char> answer_statement() const {
    static constexpr std::u32string_view kSeparators = U":*_-=\"'`\uFF1A";
    static const std::set<std::u32string> kFiller = {U"is",     U"would",    U"should", U"will",
                                                     U"must",   U"be",       U"likely", U"probably",
                                                     U"option", U"choice",   U"letter"};
    std::optional<char> last;
    for (std::size_t p = 0; p < s_.size(); ++p) {
      if (!keyword_at(p, U"answer")) continue;
      std::size_t k = p + 6;
      for (bool progressed = true; progressed;) {
        progressed = false;
        while (k < s_.size() && (is_space(s_[k]) || kSeparators.find(s_[k]) != std::u32string_view::npos)) {
          ++k;
          progressed = true;
        }
        if (const std::u32string w = word_from(k); w.size() >= 2 && kFiller.contains(w)) {
          k += w.size();
          progressed = true;
        }
      }
      if (closing(at(k)) != U'\0') ++k;
      const std::optional<char> l = letter(k, true);
      if (!l || word_at(k + 1)) continue;
      const bool upper = at(k) >= U'A' && at(k) <= U'Z';
      if (upper || !article(k)) last = l;
    }
    return last;
  }

  // Tier 5.
  std::set<char> marked_letters() const {
    std::set<char> found;
    for (std::size_t k = 0; k < s_.size(); ++k) {
      if (const char32_t close = closing(s_[k]); close != U'\0' && at(k + 2) == close) {
        if (auto l = letter(k + 1, true)) found.insert(*l);
      }
      if (s_[k] == U'*' && at(k + 1) == U'*' && at(k + 3) == U'*' && at(k + 4) == U'*') {
        if (auto l = letter(k + 2, true)) found.insert(*l);
      }
    }
    return found;
  }

  // Tier 6.
  std::set<char> standalone_letters() const {
    std::vector<bool> in_mention(s_.size(), false);
    for (const Mention& m : mentions_) {
      if (m.end - m.begin < 2) continue;  // a one-character choice text ("C") must not hide letter C
      for (std::size_t i = folded_.origin[m.begin]; i <= folded_.origin[m.end - 1]; ++i) in_mention[i] = true;
    }
    std::set<char> found;
    for (std::size_t k = 0; k < s_.size(); ++k) {
      if (in_mention[k] || !standalone(k) || article(k)) continue;
      if (auto l = letter(k, false)) found.insert(*l);
    }
    return found;
  }

  // Tier 7.
  std::set<char> mentioned_choices() const {
    std::set<char> found;
    for (const Mention& m : mentions_) {
      bool nested = false;
      for (const Mention& o : mentions_)
        nested |= o.choice != m.choice && o.begin <= m.begin && m.end <= o.end && o.end - o.begin > m.end - m.begin;
      if (!nested) found.insert(static_cast<char>('A' + m.choice));
    }
    return found;
  }

  static std::optional<char> single(const std::set<char>& found) {
    return found.size() == 1 ? std::optional<char>(*found.begin()) : std::nullopt;
  }

  // Whole-word occurrences of every choice text in the folded answer (a text that starts or ends
  // with punctuation, such as "$5" or "5%", needs no boundary on that side).
  void find_mentions() {
    const std::u32string& f = folded_.text;
    for (std::size_t c = 0; c < keys_.size(); ++c) {
      const std::u32string& key = keys_[c];
      if (key.empty()) continue;
      for (std::size_t p = f.find(key); p != std::u32string::npos; p = f.find(key, p + 1)) {
        const std::size_t e = p + key.size();
        const bool left = !is_word(key.front()) || p == 0 || !is_word(f[p - 1]);
        const bool right = !is_word(key.back()) || e == f.size() || !is_word(f[e]);
        if (left && right) mentions_.push_back({c, p, e});
      }
    }
  }

  std::u32string s_;
  std::size_t n_;
  std::vector<std::u32string> keys_;
  Folded folded_;
  std::vector<Mention> mentions_;
};

}  // namespace

std::optional<char> extract_choice(std::string_view response, std::size_t n_choices, std::span<const std::string> choices) {
  TRIMVL_CHECK_ARG(n_choices <= 26, "extract_choice: {} choices, at most 26 (A-Z) are supported", n_choices);
  TRIMVL_CHECK_ARG(choices.empty() || choices.size() == n_choices, "extract_choice: {} choice texts for {} choices",
                   choices.size(), n_choices);
  if (n_choices == 0) return std::nullopt;
  return Extractor(response, n_choices, choices).run();
}

std::size_t pick_by_loglik(std::span<const double> total_logprobs) {
  TRIMVL_CHECK_ARG(!total_logprobs.empty(), "pick_by_loglik: no choices");
  std::size_t best = 0;
  bool have = false;
  for (std::size_t i = 0; i < total_logprobs.size(); ++i) {
    const double v = total_logprobs[i];
    if (std::isnan(v)) continue;
    if (!have || v > total_logprobs[best]) {
      best = i;
      have = true;
    }
  }
  return best;
}

}  // namespace trimvl::app::eval
