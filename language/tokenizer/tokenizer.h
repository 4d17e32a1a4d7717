#pragma once
// trimvl::Tokenizer: a Hugging Face tokenizer.json with a BPE model (byte-level BPE as in Qwen2/3
// and Llama-3; BPE with byte fallback and "▁" as in Llama-2 and Vicuna), producing the ids and
// text of HF `tokenizers` 0.22.2. What is supported of each component is listed in
// normalizer.h, pre_tokenizer.h, bpe.h, added_vocabulary.h, post_processor.h and decoder.h.
// "truncation" and "padding" settings are ignored: trimvl never cuts or pads a prompt silently.
//
// Thread safety: all const members may be called concurrently; copies share the loaded data.
//
// Regex patterns run on PCRE2 with their character sets aligned to HF's Oniguruma (Unicode 16
// general categories, White_Space for \s; see onig_compat.h). Known divergences, outside what
// real prompts contain: \w, \d and script properties keep PCRE2's Unicode 14 tables; NFC/NFKC
// and case mapping use ICU's Unicode version, HF's Rust crates theirs; where HF panics (a Strip
// decoder removing a whole token with start and stop both set), trimvl returns the stripped text.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "language/tokenizer/stream_decoder.h"

namespace trimvl {

namespace tok {
class Pipeline;
}  // namespace tok

class Tokenizer {
 public:
  // Loads a tokenizer.json. Throws trimvl::Error naming the file: NotFound when it does not
  // exist; InvalidInput for invalid JSON, a malformed or missing field, merges that name tokens
  // outside the vocabulary, an invalid regex; Unsupported for a model other than BPE or an
  // unknown normalizer, pre-tokenizer, post-processor or decoder type.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  // Loads dir/tokenizer.json.
  static Tokenizer from_dir(const std::filesystem::path& dir);

  // Text -> ids. `text` is bytes: where it is not valid UTF-8, each maximal invalid subsequence
  // is first replaced with U+FFFD, exactly as Python's bytes.decode("utf-8", errors="replace")
  // does, so the ids are HF's ids for that replaced string. With add_special_tokens the
  // post-processor's tokens are added (Llama-2: a leading <s>).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ids -> text, as HF's decode: ids no token has are skipped; special tokens are kept unless
  // skip_special_tokens. Invalid UTF-8 the tokens spell is replaced with U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Incremental decode(), for generation: see StreamDecoder.
  StreamDecoder stream_decoder(bool skip_special_tokens = false) const;

  // The token string of an id (added tokens included); throws Error(NotFound) for an id no
  // token has.
  const std::string& id_to_piece(int32_t id) const;
  std::optional<int32_t> piece_to_id(std::string_view piece) const;
  // One more than the largest id of the vocabulary and the added tokens.
  int32_t vocab_size() const;
  // True for added tokens marked special (what skip_special_tokens removes).
  bool is_special(int32_t id) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  Tokenizer(std::shared_ptr<const tok::Pipeline> pipeline, std::filesystem::path path);

  std::shared_ptr<const tok::Pipeline> pipeline_;
  std::filesystem::path path_;
};

}  // namespace trimvl
