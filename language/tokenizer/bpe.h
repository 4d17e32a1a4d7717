#pragma once
// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}). A piece is split into its
// characters (each with continuing_subword_prefix / end_of_word_suffix where configured; a
// character outside the vocabulary becomes its <0xXX> byte tokens with byte_fallback, else
// unk_token, consecutive unknowns fused with fuse_unk), then adjacent pairs are merged, always
// the pair with the lowest merge rank first and the leftmost among equals, until no pair of
// the merge table remains. With ignore_merges a piece that is itself in the vocabulary is one
// token. Merges may be given as "a b" strings or ["a", "b"] pairs. dropout is not supported.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "language/tokenizer/config_node.h"
#include "language/tokenizer/merge_table.h"
#include "language/tokenizer/word_cache.h"

namespace trimvl::tok {

class Bpe {
 public:
  // `model`: tokenizer.json's "model" (its type is the caller's to check).
  explicit Bpe(const ConfigNode& model);

  // Appends the ids of one pre-tokenized piece (non-empty, valid UTF-8) to `ids`.
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> id_of(std::string_view token) const;
  const std::string* token_of(int32_t id) const;  // nullptr when no token has this id
  int64_t size() const { return static_cast<int64_t>(vocab_.size()); }
  int32_t max_id() const { return static_cast<int32_t>(tokens_.size()) - 1; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void read_vocab(const ConfigNode& vocab);
  void read_merges(const ConfigNode& merges);
  void tokenize_word(std::string_view word, std::vector<int32_t>& ids) const;
  // Initial symbol ids of `word` (before merging), HF's rules for unknown characters included.
  void split_characters(std::string_view word, std::vector<int32_t>& ids) const;
  void merge(std::vector<int32_t>& symbols) const;
  int32_t unk_id() const;

  std::string file_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> vocab_;
  std::vector<std::string> tokens_;    // by id; holes are empty strings with has_id_ false
  std::vector<bool> has_id_;
  MergeTable merges_;
  std::unordered_map<char32_t, int32_t> char_ids_;  // single-character tokens
  std::array<int32_t, 256> byte_ids_{};              // <0xXX> tokens, -1 when absent

  std::optional<std::string> unk_token_;
  std::optional<int32_t> unk_id_;
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  // Whether a piece may be cut before each "▁" that follows another character (see tokenize()).
  bool split_at_metaspace_ = false;

  WordCache cache_;
};

}  // namespace trimvl::tok
