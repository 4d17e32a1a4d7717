#pragma once
// The GPT-2 byte-level alphabet: a bijection between the 256 byte values and 256 printable code
// points, so that byte-level BPE vocabularies can be stored as text. Printable Latin-1 bytes
// ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) map to themselves; the other 68 bytes map, in
// increasing order, to U+0100, U+0101, ... (space 0x20 becomes U+0120 'Ġ').
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trimvl::tok::byte_level {

// UTF-8 of the alphabet character of every byte value.
const std::array<std::string, 256>& byte_to_char();

// The byte a code point stands for, or nullopt when it is not in the alphabet.
std::optional<uint8_t> char_to_byte(char32_t cp);

// Appends the alphabet characters of each byte of `bytes` to `out`.
void encode(std::string_view bytes, std::string& out);

// Appends the bytes a token stands for: each character's byte when every character is in the
// alphabet, otherwise the token's own UTF-8 (as HF does for added tokens outside the alphabet).
void decode_token(std::string_view token, std::string& out);

// The pre-tokenizer regex of GPT-2, used by ByteLevel with use_regex=true.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace trimvl::tok::byte_level
