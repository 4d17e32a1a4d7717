#include "language/tokenizer/added_vocabulary.h"

#include <algorithm>

#include <unicode/uchar.h>

#include "kernels/runtime/log.h"
#include "language/tokenizer/normalizer.h"
#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

namespace {

// \w of Rust's regex crate, which HF uses for single_word: Alphabetic, marks, decimal digits,
// connector punctuation and the two join controls.
bool is_word_char(char32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return true;
  const int32_t mask = U_GET_GC_MASK(c);
  return (mask & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

bool ends_with_word(std::string_view text, std::size_t end) {
  return end > 0 && is_word_char(utf8::prev(text, end));
}

bool starts_with_word(std::string_view text, std::size_t start) {
  return start < text.size() && is_word_char(utf8::next(text, start));
}

}  // namespace

AddedVocabulary::AddedVocabulary(const ConfigNode& added_tokens, const ModelLookup& model_id, int64_t model_size,
                                 const Normalizer* normalizer) {
  auto next_id = static_cast<int32_t>(model_size);
  for (const ConfigNode& node : added_tokens.elements()) {
    AddedToken token;
    token.content = node.string("content");
    token.single_word = node.boolean("single_word", false);
    token.lstrip = node.boolean("lstrip", false);
    token.rstrip = node.boolean("rstrip", false);
    token.normalized = node.boolean("normalized", true);
    token.special = node.boolean("special", false);
    if (token.content.empty()) continue;  // HF ignores these
    if (const auto seen = by_content_.find(token.content); seen != by_content_.end()) {
      // A repeated content keeps its id and takes the later flags, as HF does.
      token.id = tokens_[seen->second].id;
      tokens_[seen->second] = std::move(token);
      continue;
    }
    const std::optional<int32_t> existing = model_id(token.content);
    token.id = existing ? *existing : next_id++;
    if (node.has("id") && node.integer("id") != token.id)
      log::warn("{}: added token '{}' is listed with id {} but gets id {} (HF assigns ids by vocabulary "
                "position)", added_tokens.file(), token.content, node.integer("id"), token.id);
    by_content_.emplace(token.content, tokens_.size());
    tokens_.push_back(std::move(token));
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    by_id_.emplace(token.id, i);
    if (!token.normalized) {
      raw_.add(token.content, static_cast<uint32_t>(i));
      continue;
    }
    std::string pattern = token.content;
    if (normalizer != nullptr) normalizer->normalize(pattern);
    if (!pattern.empty()) normalized_.add(pattern, static_cast<uint32_t>(i));
  }
}

void AddedVocabulary::split(std::string_view text, Stage stage,
                            const std::function<void(std::size_t, std::size_t, int32_t)>& emit) const {
  const TokenMatcher& matcher = stage == Stage::Raw ? raw_ : normalized_;
  std::size_t done = 0;  // end of what has been emitted
  std::size_t search = 0;
  while (auto match = matcher.find(text, search)) {
    // The search resumes after the match itself, whatever stripping does to its span.
    search = match->end;
    const AddedToken& token = tokens_[match->pattern];
    std::size_t start = match->start, stop = match->end;
    if (token.single_word && (ends_with_word(text, start) || starts_with_word(text, stop))) continue;
    if (token.lstrip) {
      std::size_t left = start;
      while (left > 0) {
        std::size_t i = left;
        if (!utf8::is_white_space(utf8::prev(text, i))) break;
        left = i;
      }
      start = std::max(left, done);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t i = stop;
        if (!utf8::is_white_space(utf8::next(text, i))) break;
        stop = i;
      }
    }
    if (done < start) emit(done, start, -1);
    emit(start, stop, token.id);
    done = stop;
  }
  if (done < text.size()) emit(done, text.size(), -1);
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::id_of(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

int32_t AddedVocabulary::max_id() const {
  int32_t max = -1;
  for (const AddedToken& token : tokens_) max = std::max(max, token.id);
  return max;
}

}  // namespace trimvl::tok
