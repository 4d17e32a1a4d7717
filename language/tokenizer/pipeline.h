#pragma once
// The loaded tokenizer.json: HF's encode pipeline (added tokens -> normalizer -> pre-tokenizer ->
// BPE -> post-processor) and the id -> token side the decoder runs on. Immutable after
// construction; every member is safe to call from many threads at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "language/tokenizer/added_vocabulary.h"
#include "language/tokenizer/bpe.h"
#include "language/tokenizer/config_node.h"
#include "language/tokenizer/decoder.h"
#include "language/tokenizer/normalizer.h"
#include "language/tokenizer/post_processor.h"
#include "language/tokenizer/pre_tokenizer.h"

namespace trimvl::tok {

class Pipeline {
 public:
  // `root`: the whole tokenizer.json.
  explicit Pipeline(const ConfigNode& root);

  // The ids of `text`, which must be valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;

  // Feeds one id to a decoding; ids without a token, and special tokens when skipping them,
  // are left out (as HF's decode does).
  void feed(DecodeRun& run, int32_t id, bool skip_special_tokens) const;
  DecodeRun start_decoding() const { return decoder_.start(); }

  const std::string* token_of(int32_t id) const;  // nullptr when no token has this id
  std::optional<int32_t> id_of(std::string_view token) const;
  bool is_special(int32_t id) const;
  int32_t vocab_size() const { return vocab_size_; }

 private:
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& ids) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Bpe> model_;
  AddedVocabulary added_;
  std::unique_ptr<PostProcessor> post_processor_;
  Decoder decoder_;
  int32_t vocab_size_ = 0;
};

}  // namespace trimvl::tok
