#include "app/eval/unicode_text.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "language/tokenizer/utf8.h"

namespace trimvl::app::eval::text {
namespace {

icu::UnicodeString to_icu(std::u32string_view text) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(text.data()),
                                       static_cast<int32_t>(text.size()));
}

std::u32string from_icu(const icu::UnicodeString& s) {
  std::u32string out;
  out.reserve(static_cast<std::size_t>(s.length()));
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) out.push_back(static_cast<char32_t>(s.char32At(i)));
  return out;
}

}  // namespace

std::u32string decode(std::string_view utf8) {
  std::string valid;
  tok::utf8::decode_lossy(utf8, valid);
  std::u32string out;
  out.reserve(valid.size());
  for (std::size_t i = 0; i < valid.size();) out.push_back(tok::utf8::next(valid, i));
  return out;
}

std::string encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) tok::utf8::append(out, c);
  return out;
}

std::u32string lower(std::u32string_view text) {
  // The root locale: Python's lower() ignores the locale (no Turkish dotless i).
  return from_icu(to_icu(text).toLower(icu::Locale::getRoot()));
}

std::size_t upper_length(std::u32string_view text) {
  return static_cast<std::size_t>(to_icu(text).toUpper(icu::Locale::getRoot()).countChar32());
}

bool is_space(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  if (u_charType(cp) == U_SPACE_SEPARATOR) return true;
  const UCharDirection d = u_charDirection(cp);
  return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR;
}

bool is_word(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  return c == U'_' || u_isalpha(cp) || u_getNumericValue(cp) != U_NO_NUMERIC_VALUE;
}

bool is_lower(char32_t c) { return u_charType(static_cast<UChar32>(c)) == U_LOWERCASE_LETTER; }

std::vector<std::u32string_view> split(std::u32string_view text) {
  std::vector<std::u32string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

std::u32string collapse_spaces(std::u32string_view text) {
  std::u32string out;
  for (std::u32string_view word : split(text)) {
    if (!out.empty()) out.push_back(U' ');
    out.append(word);
  }
  return out;
}

}  // namespace trimvl::app::eval::text
