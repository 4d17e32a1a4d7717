#pragma once
// The few Unicode rules the eval metrics need, each defined as Python's str/re defines it, because
// the metrics mirror lmms-eval's Python (text_metrics.h, mcq_extract.h) and must agree with it on
// non-ASCII answers too ("Éclair" vs "éclair", a non-breaking space). Character data comes from ICU.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::app::eval::text {

// UTF-8 → code points; each maximal invalid subsequence becomes U+FFFD (as Python's
// bytes.decode("utf-8", errors="replace")), so model output and dataset text never fail here.
std::u32string decode(std::string_view utf8);
std::string encode(std::u32string_view text);

// str.lower(): full case mapping (one code point may become several) with Final_Sigma.
std::u32string lower(std::u32string_view text);
// len(str.upper()): lmms-eval's ANLS divides by this length.
std::size_t upper_length(std::u32string_view text);

// str.isspace(): general category Zs or bidirectional class WS, B or S.
bool is_space(char32_t c);
// re's \w on str: a letter (L*), a character with a numeric value, or '_'.
bool is_word(char32_t c);
bool is_lower(char32_t c);  // general category Ll
// A character of Python's string.punctuation (the ASCII ones C's ispunct accepts).
inline bool is_ascii_punct(char32_t c) {
  return (c >= U'!' && c <= U'/') || (c >= U':' && c <= U'@') || (c >= U'[' && c <= U'`') || (c >= U'{' && c <= U'~');
}
// str.split() with no separator: runs of is_space separate, no empty pieces.
std::vector<std::u32string_view> split(std::u32string_view text);
// " ".join(text.split())
std::u32string collapse_spaces(std::u32string_view text);

}  // namespace trimvl::app::eval::text
