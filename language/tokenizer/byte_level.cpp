#include "language/tokenizer/byte_level.h"

#include "language/tokenizer/utf8.h"

namespace trimvl::tok::byte_level {

namespace {

constexpr bool maps_to_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> code_point{};
  std::array<std::string, 256> utf8;
  std::array<int16_t, 0x200> byte_of{};  // every alphabet code point is below U+0200

  Tables() {
    byte_of.fill(-1);
    char32_t shifted = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      code_point[b] = maps_to_itself(b) ? b : shifted++;
      utf8::append(utf8[b], code_point[b]);
      byte_of[code_point[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_char() { return tables().utf8; }

std::optional<uint8_t> char_to_byte(char32_t cp) {
  if (cp >= tables().byte_of.size() || tables().byte_of[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(tables().byte_of[cp]);
}

void encode(std::string_view bytes, std::string& out) {
  const auto& t = tables().utf8;
  out.reserve(out.size() + 2 * bytes.size());
  for (const char c : bytes) out += t[static_cast<unsigned char>(c)];
}

void decode_token(std::string_view token, std::string& out) {
  const std::size_t mark = out.size();
  std::size_t i = 0;
  while (i < token.size()) {
    const auto byte = char_to_byte(utf8::next(token, i));
    if (!byte) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out += static_cast<char>(*byte);
  }
}

}  // namespace trimvl::tok::byte_level
