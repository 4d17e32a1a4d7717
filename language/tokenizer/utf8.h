#pragma once
// UTF-8 primitives for the tokenizer. Every stage after the input check works on valid UTF-8;
// these helpers establish that (lossy decoding) and walk it (code point iteration).
#include <cstddef>
#include <string>
#include <string_view>

namespace trimvl::tok::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Decodes `in` into `out` (appending), replacing each maximal invalid subsequence with U+FFFD:
// the Unicode "substitution of maximal subparts" practice that Python's
// bytes.decode("utf-8", errors="replace") and Rust's String::from_utf8_lossy both follow.
// With `final_chunk` false, a trailing sequence that is incomplete but could still become valid
// is left unconsumed so a stream can complete it later. Returns the number of bytes consumed.
std::size_t decode_lossy(std::string_view in, std::string& out, bool final_chunk = true);

// True when `s` is well-formed UTF-8 (no surrogates, no overlongs, nothing above U+10FFFF).
bool is_valid(std::string_view s);

// Length in bytes of the character that starts with `lead`; `s` must be valid UTF-8.
inline std::size_t char_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// The code point starting at s[i] of valid UTF-8; advances i past it.
char32_t next(std::string_view s, std::size_t& i);

// The code point ending at s[end - 1] of valid UTF-8 (end > 0); moves end to its first byte.
char32_t prev(std::string_view s, std::size_t& end);

void append(std::string& out, char32_t cp);

// Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s test).
bool is_white_space(char32_t cp);

}  // namespace trimvl::tok::utf8
