#pragma once
// Added tokens (tokenizer.json "added_tokens"): strings matched in the input before the model
// sees it, each becoming one id. HF's rules, which this mirrors:
//  - tokens with normalized=false are matched in the raw input; the text between them is then
//    normalized, and tokens with normalized=true are matched in that normalized text (their own
//    content normalized the same way);
//  - matching is leftmost-longest and ignores word boundaries (special tokens split words), except
//    single_word tokens, which only match where neither neighbour is a word character (\w);
//  - lstrip/rstrip tokens also take the whitespace to their left/right;
//  - ids: a content the model vocabulary already has keeps the model's id; the others are
//    numbered from the model vocabulary's size in file order (the "id" field is only checked).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "language/tokenizer/config_node.h"
#include "language/tokenizer/token_matcher.h"

namespace trimvl::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  using ModelLookup = std::function<std::optional<int32_t>(std::string_view)>;
  enum class Stage { Raw, Normalized };

  AddedVocabulary() = default;
  AddedVocabulary(const ConfigNode& added_tokens, const ModelLookup& model_id, int64_t model_size,
                  const Normalizer* normalizer);

  // Cuts `text` into added tokens and the text between them, calling emit(start, end, id) in
  // order: id >= 0 for a token (its span includes stripped whitespace), -1 for a non-empty run
  // of text.
  void split(std::string_view text, Stage stage,
             const std::function<void(std::size_t, std::size_t, int32_t)>& emit) const;
  bool matches_in(Stage stage) const { return !(stage == Stage::Raw ? raw_ : normalized_).empty(); }

  const AddedToken* find(int32_t id) const;
  std::optional<int32_t> id_of(std::string_view content) const;
  int32_t max_id() const;  // -1 when there are none

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, std::size_t> by_content_;
  std::unordered_map<int32_t, std::size_t> by_id_;
  TokenMatcher raw_, normalized_;
};

}  // namespace trimvl::tok
