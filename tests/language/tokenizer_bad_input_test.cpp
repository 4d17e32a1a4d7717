// Broken tokenizer.json files, one defect each: every one must give exactly one trimvl::Error of
// the right kind that names the file and says what is wrong (and where, for a JSON field).
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"
#include "language/tokenizer/tokenizer.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

using nlohmann::json;
using Kind = Error::Kind;

// A valid byte-level tokenizer: vocabulary a, b, ab; one merge.
json valid() {
  return json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 3, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\s+|\\S+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
    "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}
  })");
}

class BadTokenizerFile : public ::testing::Test {
 protected:
  // Writes `text` as tokenizer.json and expects loading it to fail with `kind` and a message
  // containing each of `parts`.
  void expect_error_text(const std::string& text, Kind kind, std::initializer_list<std::string> parts) {
    const std::filesystem::path path = dir_ / "tokenizer.json";
    test::write_file(path, text);
    expect_error_at(path, [&] { Tokenizer::from_file(path); }, kind, parts);
  }
  void expect_error(const json& root, Kind kind, std::initializer_list<std::string> parts) {
    expect_error_text(root.dump(), kind, parts);
  }
  static void expect_error_at(const std::filesystem::path& path, const std::function<void()>& action, Kind kind,
                              std::initializer_list<std::string> parts) {
    try {
      action();
      ADD_FAILURE() << "no error for " << path;
    } catch (const Error& e) {
      EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
      EXPECT_EQ(e.file(), path.string()) << e.what();
      for (const std::string& part : parts)
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "'" << part << "' not in: " << e.what();
    }
  }

  test::TempDir dir_;
};

TEST_F(BadTokenizerFile, TheValidBaseLoads) {
  test::write_file(dir_ / "tokenizer.json", valid().dump());
  const Tokenizer t = Tokenizer::from_dir(dir_.path());
  EXPECT_EQ(t.encode("ab<s>a"), (std::vector<int32_t>{2, 3, 0}));
}

TEST_F(BadTokenizerFile, MissingFile) {
  const auto path = dir_ / "absent.json";
  expect_error_at(path, [&] { Tokenizer::from_file(path); }, Kind::NotFound, {"file not found"});
  expect_error_at(dir_ / "tokenizer.json", [&] { Tokenizer::from_dir(dir_.path()); }, Kind::NotFound,
                  {"file not found"});
  expect_error_at(dir_ / "nodir", [&] { Tokenizer::from_dir(dir_ / "nodir"); }, Kind::NotFound,
                  {"not a directory"});
  expect_error_at(dir_.path(), [&] { Tokenizer::from_file(dir_.path()); }, Kind::InvalidInput, {"is a directory"});
}

TEST_F(BadTokenizerFile, InvalidJson) {
  const std::string text = valid().dump();
  expect_error_text(text.substr(0, text.size() / 2), Kind::InvalidInput, {"invalid JSON at byte"});
  expect_error_text("", Kind::InvalidInput, {"invalid JSON"});
  expect_error_text("[1, 2]", Kind::InvalidInput, {"expected a JSON object at the top level, got array"});
}

TEST_F(BadTokenizerFile, UnsupportedModels) {
  for (const char* type : {"Unigram", "WordPiece", "WordLevel"}) {
    json root = valid();
    root["model"]["type"] = type;
    expect_error(root, Kind::Unsupported, {"model: unsupported model type", type});
  }
  json root = valid();
  root["model"]["dropout"] = 0.1;
  expect_error(root, Kind::Unsupported, {"model.dropout", "dropout is not supported"});
  root = valid();
  root.erase("model");
  expect_error(root, Kind::InvalidInput, {"missing required key 'model'"});
  root = valid();
  root["version"] = "2.0";
  expect_error(root, Kind::Unsupported, {"version", "2.0"});
}

TEST_F(BadTokenizerFile, UnknownComponentTypes) {
  json root = valid();
  root["normalizer"] = {{"type", "BertNormalizer"}};
  expect_error(root, Kind::Unsupported, {"normalizer: unsupported normalizer type 'BertNormalizer'"});
  root = valid();
  root["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Precompiled"}}}}};
  expect_error(root, Kind::Unsupported, {"normalizer.normalizers[1]: unsupported normalizer type 'Precompiled'"});
  root = valid();
  root["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Whitespace"}};
  expect_error(root, Kind::Unsupported, {"pre_tokenizer.pretokenizers[1]: unsupported pre-tokenizer type 'Whitespace'"});
  root = valid();
  root["decoder"] = {{"type", "CTC"}};
  expect_error(root, Kind::Unsupported, {"decoder: unsupported decoder type 'CTC'"});
  root = valid();
  root["post_processor"] = {{"type", "BertProcessing"}};
  expect_error(root, Kind::Unsupported, {"post_processor: unsupported post-processor type 'BertProcessing'"});
  root = valid();
  root["decoder"] = {{"type", "Sequence"}, {"decoders", {{{"type", "Fuse"}}, {{"type", "ByteLevel"}}}}};
  expect_error(root, Kind::Unsupported, {"decoder.decoders[1]", "ByteLevel after a ByteLevel or Fuse"});
}

TEST_F(BadTokenizerFile, ComponentsNestedTooDeeply) {
  json root = valid();
  json normalizer = {{"type", "NFC"}};
  for (int i = 0; i < 100; ++i) normalizer = {{"type", "Sequence"}, {"normalizers", {normalizer}}};
  root["normalizer"] = normalizer;
  expect_error(root, Kind::InvalidInput, {"normalizer.normalizers[0]", "nested more than 64 levels deep"});
}

TEST_F(BadTokenizerFile, MergesOutsideTheVocabulary) {
  json root = valid();
  root["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"b", "z"})});
  expect_error(root, Kind::InvalidInput, {"model.merges[1]", "'z', which is not in the vocabulary"});
  root = valid();
  root["model"]["merges"] = {"a b", "b a"};  // legacy string form; "ba" is not in the vocabulary
  expect_error(root, Kind::InvalidInput, {"model.merges[1]", "produces 'ba', which is not in the vocabulary"});
  root = valid();
  root["model"]["merges"] = {"a b c"};
  expect_error(root, Kind::InvalidInput, {"model.merges[0]", "two tokens separated by one space"});
  root = valid();
  root["model"]["merges"] = json::array({json::array({"a", "b", "c"})});
  expect_error(root, Kind::InvalidInput, {"model.merges[0]", "expected a pair of tokens, got 3 elements"});
}

TEST_F(BadTokenizerFile, InvalidRegex) {
  json root = valid();
  root["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(\\p{L}+"}};
  expect_error(root, Kind::InvalidInput, {"pre_tokenizer.pretokenizers[0].pattern", "invalid regex", "missing closing parenthesis"});
  root = valid();
  root["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", "[z-a]"}}}, {"content", ""}};
  expect_error(root, Kind::InvalidInput, {"normalizer.pattern", "invalid regex"});
  root = valid();
  root["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Glob", "*"}};
  expect_error(root, Kind::InvalidInput, {"pattern", R"(expected {"String": ...} or {"Regex": ...})"});
}

TEST_F(BadTokenizerFile, MalformedFields) {
  json root = valid();
  root["model"]["vocab"]["c"] = -1;
  expect_error(root, Kind::InvalidInput, {"model.vocab", "token 'c' has id -1"});
  root = valid();
  root["model"]["vocab"]["c"] = 1'000'000'000;
  expect_error(root, Kind::InvalidInput, {"model.vocab", "ids are too sparse: the largest is 1000000000 for 4 tokens"});
  root = valid();
  root["model"]["vocab"] = json::array();
  expect_error(root, Kind::InvalidInput, {"model.vocab: expected an object, got array"});
  root = valid();
  root["added_tokens"][0]["lstrip"] = "yes";
  expect_error(root, Kind::InvalidInput, {"added_tokens[0].lstrip: expected a boolean, got string"});
  root = valid();
  root["added_tokens"][0].erase("content");
  expect_error(root, Kind::InvalidInput, {"added_tokens[0]: missing required key 'content'"});
  root = valid();
  root["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  expect_error(root, Kind::InvalidInput, {"pre_tokenizer.pretokenizers[0].behavior", "unknown split behavior 'Sideways'"});
  root = valid();
  root["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
  expect_error(root, Kind::InvalidInput, {"decoder.content: expected a single character"});
  root = valid();
  root["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}, {"prepend_scheme", "always"},
                           {"add_prefix_space", false}};
  expect_error(root, Kind::InvalidInput, {"pre_tokenizer: add_prefix_space is false"});
  root = valid();
  root["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", {{{"SpecialToken", {{"id", "<cls>"}, {"type_id", 0}}}},
                                        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                            {"special_tokens", json::object()}};
  expect_error(root, Kind::InvalidInput, {"post_processor.single[0]", "'<cls>' is missing from special_tokens"});
}

TEST_F(BadTokenizerFile, UnknownTokenMissingFromTheVocabularyFailsWhenNeeded) {
  json root = valid();
  root["model"]["unk_token"] = "<unk>";
  root["pre_tokenizer"] = nullptr;
  root["decoder"] = nullptr;
  test::write_file(dir_ / "tokenizer.json", root.dump());
  const Tokenizer t = Tokenizer::from_file(dir_ / "tokenizer.json");
  EXPECT_EQ(t.encode("ab"), (std::vector<int32_t>{2}));  // no unknown character: fine, as in HF
  expect_error_at(dir_ / "tokenizer.json", [&] { t.encode("abc"); }, Kind::InvalidInput,
                  {"unk_token '<unk>' is not in the vocabulary"});
}

}  // namespace
}  // namespace trimvl
