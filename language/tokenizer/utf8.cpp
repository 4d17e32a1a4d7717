#include "language/tokenizer/utf8.h"

namespace trimvl::tok::utf8 {

namespace {

// Valid range of the second byte after a given lead byte (Unicode Table 3-7); later
// continuation bytes are always 80..BF.
struct LeadInfo {
  unsigned char length;  // 0: the byte cannot start a sequence
  unsigned char lo, hi;  // bounds of the second byte
};

constexpr LeadInfo lead_info(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

// Length of the well-formed prefix of the sequence starting at in[i]: equal to the lead's
// length when complete and valid; otherwise the maximal subpart (at least 1 for an invalid lead).
// `truncated` says the subpart ran into the end of the input rather than a bad byte.
std::size_t valid_prefix(std::string_view in, std::size_t i, bool& truncated) {
  const auto b = static_cast<unsigned char>(in[i]);
  const LeadInfo info = lead_info(b);
  truncated = false;
  if (info.length <= 1) return 1;
  std::size_t n = 1;
  for (; n < info.length; ++n) {
    if (i + n >= in.size()) {
      truncated = true;
      return n;
    }
    const auto c = static_cast<unsigned char>(in[i + n]);
    const bool ok = n == 1 ? (c >= info.lo && c <= info.hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return n;
  }
  return n;
}

}  // namespace

std::size_t decode_lossy(std::string_view in, std::string& out, bool final_chunk) {
  out.reserve(out.size() + in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    // ASCII runs dominate real text; copy them without per-byte classification.
    std::size_t j = i;
    while (j < in.size() && static_cast<unsigned char>(in[j]) < 0x80) ++j;
    out.append(in.data() + i, j - i);
    i = j;
    if (i == in.size()) break;
    bool truncated = false;
    const std::size_t n = valid_prefix(in, i, truncated);
    const auto length = lead_info(static_cast<unsigned char>(in[i])).length;
    if (n == length && length > 1) {
      out.append(in.data() + i, n);
    } else if (truncated && !final_chunk) {
      return i;  // may still complete
    } else {
      out.append(kReplacement);
    }
    i += n;
  }
  return i;
}

bool is_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    bool truncated = false;
    const std::size_t n = valid_prefix(s, i, truncated);
    if (n != lead_info(static_cast<unsigned char>(s[i])).length || n == 1) return false;
    i += n;
  }
  return true;
}

char32_t next(std::string_view s, std::size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  const std::size_t n = char_len(b);
  char32_t cp = b & (0xFF >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

char32_t prev(std::string_view s, std::size_t& end) {
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  std::size_t i = start;
  const char32_t cp = next(s, i);
  end = start;
  return cp;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_white_space(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace trimvl::tok::utf8
