// Unit tests of the tokenizer's building blocks: UTF-8 handling, the byte-level alphabet, regex
// matching with Oniguruma's rules, and added-token matching. Expected values come from the
// Unicode standard, the GPT-2 alphabet's definition, or (where marked) HF's own output.
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "language/tokenizer/byte_level.h"
#include "language/tokenizer/onig_compat.h"
#include "language/tokenizer/regex.h"
#include "language/tokenizer/token_matcher.h"
#include "language/tokenizer/utf8.h"

namespace trimvl::tok {
namespace {

const std::string R = std::string(utf8::kReplacement);

std::string lossy(std::string_view in) {
  std::string out;
  utf8::decode_lossy(in, out);
  return out;
}

// ---- UTF-8 --------------------------------------------------------------------------------------

TEST(Utf8, ReplacesMaximalSubpartsLikeTheUnicodeStandard) {
  // Unicode 15, section 3.9, Table 3-8: "U+FFFD for each maximal subpart of an ill-formed
  // subsequence" on 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  EXPECT_EQ(lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");
  // Table 3-9 (overlong / out of range lead bytes) and 3-10 (surrogates): one U+FFFD per byte.
  EXPECT_EQ(lossy("\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41"), R + R + R + R + R + R + R + R + "A");
  EXPECT_EQ(lossy("\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41"), R + R + R + R + R + R + R + R + "A");
  EXPECT_EQ(lossy("\xF4\x91\x92\x93\xFF\x41\x80\xBF\x42"), R + R + R + R + R + "A" + R + R + "B");
  EXPECT_EQ(lossy("\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41"), R + R + R + R + "A");
  EXPECT_EQ(lossy("\xE4\xB8"), R);  // truncated at the end: one U+FFFD for the subpart
  EXPECT_EQ(lossy("h\xC3\xA9llo \xE4\xB8\xAD\xF0\x9F\x98\x80"), "h\xC3\xA9llo \xE4\xB8\xAD\xF0\x9F\x98\x80");
}

TEST(Utf8, StreamingLeavesAnIncompleteTail) {
  std::string out;
  EXPECT_EQ(utf8::decode_lossy("ab\xE4\xB8", out, /*final_chunk=*/false), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  // A tail that can no longer complete is not held back.
  EXPECT_EQ(utf8::decode_lossy("ab\xE4\x41", out, false), 4u);
  EXPECT_EQ(out, "ab" + R + "A");
}

TEST(Utf8, Validity) {
  EXPECT_TRUE(utf8::is_valid(""));
  EXPECT_TRUE(utf8::is_valid("plain \xE4\xB8\xAD \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(utf8::is_valid("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(utf8::is_valid("\xC1\xBF"));      // overlong
  EXPECT_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8::is_valid("ok\xE4\xB8"));    // truncated
}

TEST(Utf8, WhiteSpaceIsTheUnicodeProperty) {
  for (const char32_t cp : {0x09u, 0x0Au, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u, 0x3000u})
    EXPECT_TRUE(utf8::is_white_space(cp)) << std::hex << static_cast<uint32_t>(cp);
  for (const char32_t cp : {0x08u, 0x41u, 0x180Eu, 0x200Bu, 0xFEFFu})
    EXPECT_FALSE(utf8::is_white_space(cp)) << std::hex << static_cast<uint32_t>(cp);
}

// ---- byte-level alphabet ----------------------------------------------------------------------

TEST(ByteLevel, AlphabetFollowsGpt2) {
  const auto& table = byte_level::byte_to_char();
  EXPECT_EQ(table['!'], "!");
  EXPECT_EQ(table['~'], "~");
  EXPECT_EQ(table[0xE9], "\xC3\xA9");    // printable Latin-1 maps to itself: é
  EXPECT_EQ(table[0x00], "\xC4\x80");    // the first of the shifted bytes: U+0100
  EXPECT_EQ(table[' '], "\xC4\xA0");     // U+0120 'Ġ'
  EXPECT_EQ(table['\n'], "\xC4\x8A");    // U+010A 'Ċ'
  EXPECT_EQ(table[0x7F], "\xC4\xA1");    // after the 33 control bytes and space: U+0121
  EXPECT_EQ(table[0xAD], "\xC5\x83");    // soft hyphen, the last shifted byte: U+0143
  for (int b = 0; b < 256; ++b) {
    std::size_t i = 0;
    EXPECT_EQ(byte_level::char_to_byte(utf8::next(table[b], i)), b);
  }
  EXPECT_FALSE(byte_level::char_to_byte(U'中'));
  EXPECT_FALSE(byte_level::char_to_byte(0x144));
}

TEST(ByteLevel, TokensDecodeToBytesOrThemselves) {
  std::string encoded;
  byte_level::encode("a b\n\xE4\xB8\xAD", encoded);
  EXPECT_EQ(encoded, "a\xC4\xA0" "b\xC4\x8A\xC3\xA4\xC2\xB8\xC5\x83");  // a Ġ b Ċ ä ¸ Ń
  std::string bytes;
  byte_level::decode_token(encoded, bytes);
  EXPECT_EQ(bytes, "a b\n\xE4\xB8\xAD");
  // A token with a character outside the alphabet stands for its own UTF-8 (HF's rule).
  bytes.clear();
  byte_level::decode_token("\xC4\xA0\xE4\xB8\xAD", bytes);
  EXPECT_EQ(bytes, "\xC4\xA0\xE4\xB8\xAD");
}

// ---- regex --------------------------------------------------------------------------------------

std::vector<std::string> matches(const Regex& re, std::string_view text) {
  std::vector<std::string> out;
  re.for_each_match(text, [&](std::size_t s, std::size_t e) { out.emplace_back(text.substr(s, e - s)); });
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> spans(const Regex& re, std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  re.for_each_match(text, [&](std::size_t s, std::size_t e) { out.emplace_back(s, e); });
  return out;
}

TEST(Regex, Qwen3PreTokenizerPattern) {
  const Regex re(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  // Digits one by one; a whitespace run before a word leaves its last space to the word;
  // newline runs stand alone.
  EXPECT_EQ(matches(re, "Hello world's  123\n\n  x"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", " ", "1", "2", "3", "\n\n", " ", " x"}));
  // The optional leading character of a word may be punctuation.
  EXPECT_EQ(matches(re, "WE'RE 你好，世界!"), (std::vector<std::string>{"WE", "'RE", " 你好", "，世界", "!"}));
  // (?i) is Unicode-aware: U+017F LONG S folds to s (Oniguruma agrees).
  EXPECT_EQ(matches(re, "it'\xC5\xBF"), (std::vector<std::string>{"it", "'\xC5\xBF"}));
}

TEST(Regex, EmptyMatchesFollowOniguruma) {
  // Reference: HF's Split(Regex("x*")) and Replace on the same inputs. An empty match right
  // after the previous match is skipped; elsewhere it counts.
  EXPECT_EQ(spans(Regex("x*"), "axxbx"), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {1, 3}, {4, 5}}));
  EXPECT_EQ(spans(Regex(""), "ab"), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_EQ(spans(Regex("a|"), "ab"), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 1}, {2, 2}}));
  EXPECT_TRUE(spans(Regex("x*"), "").empty());
  // Empty matches advance by whole characters.
  EXPECT_EQ(spans(Regex(""), "\xC3\xA9"), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {2, 2}}));
}

TEST(Regex, LiteralPatternsAreNotRegexSyntax) {
  EXPECT_EQ(matches(Regex("a.b", Regex::Syntax::Literal), "a.b axb a.b"), (std::vector<std::string>{"a.b", "a.b"}));
}

TEST(Regex, LongWhitespaceRunsDoNotExhaustTheStack) {
  const Regex re(R"(\s+(?!\S)|\s+)");
  const std::string text = std::string(1'000'000, ' ') + "x";
  EXPECT_EQ(spans(re, text),
            (std::vector<std::pair<std::size_t, std::size_t>>{{0, 999'999}, {999'999, 1'000'000}}));
}

TEST(Regex, InvalidPatternIsAnErrorNamingIt) {
  try {
    Regex re("(ab");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("/(ab/"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing closing parenthesis"), std::string::npos) << e.what();
  }
}

// ---- Oniguruma compatibility rewrite ------------------------------------------------------------

bool found(const std::string& pattern, std::string_view text) { return !matches(Regex(pattern), text).empty(); }

TEST(OnigCompatible, SpellsOutWhiteSpaceWithoutU180E) {
  const std::string ws = R"(\t\n\x0B\f\r\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
  EXPECT_EQ(onig_compatible(R"(\s+(?!\S))"), "[" + ws + "]+(?![^" + ws + "])");
  EXPECT_EQ(onig_compatible(R"([^\s\d])"), "[^" + ws + R"(\d])");
  EXPECT_EQ(onig_compatible(R"([]\s])"), "[]" + ws + "]");  // a leading ] is a member
  EXPECT_EQ(onig_compatible(R"([\S])"), R"([\S])");        // cannot be narrowed inside a class
  EXPECT_FALSE(found(R"(\s)", "\xE1\xA0\x8E"));   // U+180E
  EXPECT_TRUE(found(R"([^\s\p{L}\p{N}])", "\xE1\xA0\x8E"));
}

TEST(OnigCompatible, WidensCategoriesToUnicode16) {
  // U+31350 (CJK Extension H, Unicode 15) is a letter and U+1D2C0 (Kaktovik numeral) a number.
  EXPECT_TRUE(found(R"(^\p{L}$)", "\xF0\xB1\x8D\x90"));
  EXPECT_TRUE(found(R"(^\p{Lo}$)", "\xF0\xB1\x8D\x90"));
  EXPECT_TRUE(found(R"(^[^\r\n\p{L}\p{N}]$)", "!"));
  EXPECT_FALSE(found(R"(^[^\r\n\p{L}\p{N}]$)", "\xF0\x9D\x8B\x80"));
  EXPECT_FALSE(found(R"(^\P{N}$)", "\xF0\x9D\x8B\x80"));
  // Categories without changes keep their spelling.
  EXPECT_EQ(onig_compatible(R"(\p{Lt}\P{Zs})"), R"(\p{Lt}\P{Zs})");
}

TEST(OnigCompatible, ReadsNamesAsOnigurumaDoes) {
  EXPECT_EQ(onig_compatible(R"(\pL)"), "pL");  // no braces: the letters p and L
  EXPECT_EQ(onig_compatible(R"(\p{Uppercase_Letter})"), onig_compatible(R"(\p{Lu})"));
  EXPECT_EQ(onig_compatible(R"(\p{letter})"), onig_compatible(R"(\p{L})"));
  EXPECT_EQ(onig_compatible(R"(\p{^N})"), onig_compatible(R"(\P{N})"));
  EXPECT_EQ(onig_compatible(R"(\p{Greek})"), R"(\p{Greek})");  // not a general category
  // Escaped backslashes and quoted text are not escapes of their own.
  EXPECT_EQ(onig_compatible(R"(\\s\Q\s\p{L}\E)"), R"(\\s\Q\s\p{L}\E)");
}

// ---- added-token matching -----------------------------------------------------------------------

TEST(TokenMatcher, LeftmostThenLongest) {
  TokenMatcher m;
  m.add("<a>", 0);
  m.add("<a><b>", 1);
  m.add("b>", 2);
  m.add("x", 3);
  const std::string text = "..<a><b>x<a>";
  auto first = m.find(text, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ((std::tuple{first->start, first->end, first->pattern}), (std::tuple{2u, 8u, 1u}));
  auto second = m.find(text, first->end);
  ASSERT_TRUE(second);
  EXPECT_EQ((std::tuple{second->start, second->end, second->pattern}), (std::tuple{8u, 9u, 3u}));
  auto third = m.find(text, second->end);
  ASSERT_TRUE(third);
  EXPECT_EQ((std::tuple{third->start, third->end, third->pattern}), (std::tuple{9u, 12u, 0u}));
  EXPECT_FALSE(m.find(text, third->end));
  EXPECT_FALSE(TokenMatcher().find(text, 0));
}

}  // namespace
}  // namespace trimvl::tok
