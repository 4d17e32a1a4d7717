#include "language/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"
#include "language/tokenizer/pipeline.h"
#include "language/tokenizer/utf8.h"

namespace trimvl {

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("file not found", Error::Kind::NotFound).file(path.string());
  if (std::filesystem::is_directory(path, ec))
    throw Error("is a directory; expected a tokenizer.json file").file(path.string());
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw Error("cannot read the file").file(path.string());
  return std::move(text).str();
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const tok::Pipeline> pipeline, std::filesystem::path path)
    : pipeline_(std::move(pipeline)), path_(std::move(path)) {}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  const std::string text = read_text(tokenizer_json);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("invalid JSON at byte {}: {}", e.byte, e.what())).file(tokenizer_json.string());
  }
  if (!root.is_object())
    throw Error(fmt::format("expected a JSON object at the top level, got {}", root.type_name()))
        .file(tokenizer_json.string());
  const tok::ConfigNode node(root, "", std::make_shared<const std::string>(tokenizer_json.string()));
  return Tokenizer(std::make_shared<const tok::Pipeline>(node), tokenizer_json);
}

Tokenizer Tokenizer::from_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error("not a directory (expected a model directory containing tokenizer.json)", Error::Kind::NotFound)
        .file(dir.string());
  return from_file(dir / "tokenizer.json");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (tok::utf8::is_valid(text)) return pipeline_->encode(text, add_special_tokens);
  std::string replaced;
  tok::utf8::decode_lossy(text, replaced);
  return pipeline_->encode(replaced, add_special_tokens);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  tok::DecodeRun run = pipeline_->start_decoding();
  for (const int32_t id : ids) pipeline_->feed(run, id, skip_special_tokens);
  run.finish();
  return run.take_output();
}

StreamDecoder Tokenizer::stream_decoder(bool skip_special_tokens) const {
  return StreamDecoder(pipeline_, skip_special_tokens);
}

const std::string& Tokenizer::id_to_piece(int32_t id) const {
  const std::string* token = pipeline_->token_of(id);
  if (token == nullptr)
    throw Error(fmt::format("no token has id {} (vocabulary size {})", id, vocab_size()), Error::Kind::NotFound)
        .file(path_.string());
  return *token;
}

std::optional<int32_t> Tokenizer::piece_to_id(std::string_view piece) const { return pipeline_->id_of(piece); }
int32_t Tokenizer::vocab_size() const { return pipeline_->vocab_size(); }
bool Tokenizer::is_special(int32_t id) const { return pipeline_->is_special(id); }

}  // namespace trimvl
