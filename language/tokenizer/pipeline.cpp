#include "language/tokenizer/pipeline.h"

#include <algorithm>

namespace trimvl::tok {

Pipeline::Pipeline(const ConfigNode& root) : decoder_(Decoder::from_config(nullptr)) {
  if (root.has("version") && root.string("version") != "1.0")
    root.at("version").unsupported(
        fmt::format("unknown tokenizer.json version '{}' (expected 1.0)", root.string("version")));
  const ConfigNode model = root.at("model");
  const bool is_bpe = model.has("type") ? model.type() == "BPE" : model.has("merges");
  if (!is_bpe)
    model.unsupported(fmt::format("unsupported model type '{}' (trimvl implements BPE)",
                                  model.has("type") ? model.type() : "untyped, without merges"));
  if (const auto node = root.find("normalizer")) normalizer_ = Normalizer::from_config(*node);
  if (const auto node = root.find("pre_tokenizer")) pre_tokenizer_ = PreTokenizer::from_config(*node);
  if (const auto node = root.find("post_processor")) post_processor_ = PostProcessor::from_config(*node);
  if (const auto node = root.find("decoder")) decoder_ = Decoder::from_config(&*node);
  model_ = std::make_unique<Bpe>(model);
  if (const auto node = root.find("added_tokens"))
    added_ = AddedVocabulary(*node, [this](std::string_view t) { return model_->id_of(t); }, model_->size(),
                             normalizer_.get());
  vocab_size_ = std::max(model_->max_id(), added_.max_id()) + 1;
}

std::vector<int32_t> Pipeline::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  // Added tokens are matched in the raw text first; the text between them is normalized, then
  // searched again for tokens whose content is matched in normalized form.
  added_.split(text, AddedVocabulary::Stage::Raw, [&](std::size_t start, std::size_t end, int32_t id) {
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    std::string normalized(text.substr(start, end - start));
    if (normalizer_) normalizer_->normalize(normalized);
    if (!added_.matches_in(AddedVocabulary::Stage::Normalized)) {
      encode_text(normalized, start == 0, out);
      return;
    }
    added_.split(normalized, AddedVocabulary::Stage::Normalized, [&](std::size_t s, std::size_t e, int32_t nid) {
      if (nid >= 0) out.push_back(nid);
      else encode_text(std::string_view(normalized).substr(s, e - s), start == 0 && s == 0, out);
    });
  });
  if (post_processor_) post_processor_->process(out, add_special_tokens);
  return out;
}

void Pipeline::encode_text(std::string_view text, bool at_start, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  std::vector<Piece> pieces;
  pieces.push_back({std::string(text), at_start});
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
  for (const Piece& piece : pieces) model_->tokenize(piece.text, ids);
}

void Pipeline::feed(DecodeRun& run, int32_t id, bool skip_special_tokens) const {
  const std::string* token = token_of(id);
  if (token == nullptr || (skip_special_tokens && is_special(id))) return;
  run.push(*token);
}

const std::string* Pipeline::token_of(int32_t id) const {
  if (const AddedToken* added = added_.find(id)) return &added->content;
  return model_->token_of(id);
}

std::optional<int32_t> Pipeline::id_of(std::string_view token) const {
  if (const auto id = added_.id_of(token)) return id;
  return model_->id_of(token);
}

bool Pipeline::is_special(int32_t id) const {
  const AddedToken* added = added_.find(id);
  return added != nullptr && added->special;
}

}  // namespace trimvl::tok
